"""Varied strokes: a hand's habits made random, without turning one digit into another."""

from __future__ import annotations

import numpy as np

from dashcore.datasets.canvas_like import canvas_like_images
from dashcore.datasets.catalog import load_mnist
from dashcore.datasets.pen import OVERSHOOT, WANDER_AMPLITUDE, varied_strokes
from dashcore.datasets.strokes import digit_strokes


def _distance_to(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest segment of ``polyline``."""
    a, b = polyline[:-1], polyline[1:]
    ab = b - a
    t = np.clip(np.einsum("psk,sk->ps", points[:, None] - a[None], ab)
                / np.maximum((ab ** 2).sum(1), 1e-12), 0, 1)
    nearest = a[None] + t[..., None] * ab[None]
    return np.hypot(*(points[:, None] - nearest).transpose(2, 0, 1)).min(axis=1)


def test_a_varied_digit_stays_near_its_ink_and_changes_no_stroke_into_another() -> None:
    digits = load_mnist().x_train[:30]
    rng = np.random.default_rng(0)
    reach = WANDER_AMPLITUDE + OVERSHOOT[1] + 0.02  # wander, run-on, corner cutting
    for image in digits:
        strokes = digit_strokes(image)
        varied = varied_strokes(strokes, rng)
        assert varied and all(s.shape[1] == 2 and s.dtype == np.float32 for s in varied)
        original = [s.astype(np.float64) for s in strokes if len(s) > 1]
        for stroke in varied:
            far = np.min([_distance_to(stroke, o) for o in original], axis=0)
            assert far.max() <= reach, f"a varied stroke strays {far.max():.3f} from the ink"


def test_strokes_are_varied_the_ways_a_hand_varies_them() -> None:
    line = [np.array([[0.3, 0.1], [0.3, 0.9]], dtype=np.float32)]
    runs = [varied_strokes(line, np.random.default_rng(seed)) for seed in range(200)]
    lifted = sum(len(r) == 2 for r in runs)
    tops = np.array([min(s[:, 1].min() for s in r) for r in runs])
    sideways = np.array([max(np.abs(s[:, 0] - 0.3).max() for s in r) for r in runs])
    assert 10 <= lifted <= 60  # sometimes, not always, the pen lifts
    assert (tops < 0.1 - 0.005).any() and (tops > 0.1 + 0.005).any()  # over- and undershoot
    assert (sideways > 0.003).mean() > 0.5 and sideways.max() <= WANDER_AMPLITUDE + OVERSHOOT[1]


def test_training_renderings_vary_and_a_seed_still_fixes_them() -> None:
    mnist = load_mnist()
    x, y = mnist.x_train[:20], mnist.y_train[:20]
    plain, _ = canvas_like_images(x, y, seed=4, varied=False)
    varied, labels = canvas_like_images(x, y, seed=4)
    assert labels.tolist() == y.tolist() and not np.array_equal(plain, varied)
    again, _ = canvas_like_images(x, y, seed=4)
    assert np.array_equal(again, varied)
