"""Canvas-like digits: MNIST strokes drawn the way /draw's canvas draws them, then
preprocessed exactly as /draw preprocesses a drawing.

A model trained on MNIST alone meets a different distribution on /draw: a round brush
of constant width, any size and place on a 280×280 canvas, then the workbench's own
MNIST-style normalisation (:func:`dashcore.preprocess.preprocess`). Rendering MNIST's
own digits (as pen strokes from :mod:`dashcore.datasets.strokes`) that way gives
labelled images from that distribution to train, validate and calibrate on.

Example:
    >>> from dashcore.data import load_mnist
    >>> x, y = canvas_like_images(load_mnist().x_train[:2], load_mnist().y_train[:2], seed=0)
    >>> x.shape, x.dtype
    ((2, 28, 28), dtype('uint8'))
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dashcore.datasets.pen import varied_strokes
from dashcore.datasets.strokes import digit_strokes
from dashcore.inference.preprocess import preprocess

CANVAS_SIDE = 280  # /draw's canvas, pixels
BRUSH_RANGE = (10.0, 30.0)  # brush width, canvas pixels (/draw's slider default is 18)
HEIGHT_RANGE = (0.45, 0.80)  # the digit's height as a fraction of the canvas
MAX_WIDTH = 0.92  # a wide digit is shrunk so it fits this fraction of the canvas width
SLANT_RANGE = 0.25  # horizontal shear, ± (x moves by slant × height above the centre)
ROTATION_DEGREES = 8.0  # ± rotation
ASPECT_RANGE = 0.15  # ± relative change of width against height
JITTER_PIXELS = 1.0  # standard deviation of the per-point hand tremor, canvas pixels
INK_LEVELS = (0.25, 0.55)  # varied renderings trace the ink at a random level in this range


@dataclass(frozen=True)
class Pose:
    """How one digit is drawn on the canvas (all sizes in canvas pixels)."""

    height: float  # the digit's height, pixels
    brush: float  # brush width, pixels
    centre: tuple[float, float]  # (x, y) of the digit's bounding-box centre
    slant: float = 0.0  # horizontal shear
    rotation: float = 0.0  # radians, counter-clockwise on screen
    aspect: float = 1.0  # width multiplier
    jitter: float = 0.0  # per-point noise, pixels


def random_pose(rng: np.random.Generator, strokes: list[np.ndarray]) -> Pose:
    """A random but plausible way to draw ``strokes`` (size, brush, place, slant, tremor)."""
    height = rng.uniform(*HEIGHT_RANGE) * CANVAS_SIDE
    brush = rng.uniform(*BRUSH_RANGE)
    aspect = 1.0 + rng.uniform(-ASPECT_RANGE, ASPECT_RANGE)
    width = height * aspect * _aspect_ratio(strokes)
    scale = min(1.0, MAX_WIDTH * CANVAS_SIDE / max(width, 1.0))
    height, width = height * scale, width * scale
    margin = brush / 2 + 2
    cx = rng.uniform(margin + width / 2, max(margin + width / 2, CANVAS_SIDE - margin - width / 2))
    cy = rng.uniform(margin + height / 2,
                     max(margin + height / 2, CANVAS_SIDE - margin - height / 2))
    return Pose(height=height, brush=brush, centre=(cx, cy),
                slant=rng.uniform(-SLANT_RANGE, SLANT_RANGE),
                rotation=math.radians(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES)),
                aspect=aspect, jitter=JITTER_PIXELS)


def _bounds(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


def _aspect_ratio(strokes: list[np.ndarray]) -> float:
    """Width / height of the strokes' bounding box (a "1" is narrow: small ratio)."""
    lo, hi = _bounds(strokes)
    return float((hi[0] - lo[0]) / max(hi[1] - lo[1], 1e-3))


def place(strokes: list[np.ndarray], pose: Pose,
          rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Strokes in the 28×28 frame → canvas pixel coordinates for ``pose``."""
    lo, hi = _bounds(strokes)
    middle = (lo + hi) / 2
    scale = pose.height / max(float(hi[1] - lo[1]), 1e-3)
    cos, sin = math.cos(pose.rotation), math.sin(pose.rotation)
    out = []
    for stroke in strokes:
        p = (stroke.astype(np.float64) - middle) * scale
        p[:, 0] = p[:, 0] * pose.aspect - pose.slant * p[:, 1]
        p = np.stack([cos * p[:, 0] + sin * p[:, 1], -sin * p[:, 0] + cos * p[:, 1]], axis=1)
        if rng is not None and pose.jitter > 0:
            p += rng.normal(0.0, pose.jitter, p.shape)
        out.append(p + np.asarray(pose.centre))
    return out


def render(canvas_strokes: list[np.ndarray], brush: float,
           side: int = CANVAS_SIDE) -> np.ndarray:
    """Draw strokes (canvas pixels) with a round white brush on black: uint8 (side, side).

    Like the canvas: round joints and round caps, so a one-point stroke is a dot.
    """
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    width = max(1, round(brush))
    radius = brush / 2
    for stroke in canvas_strokes:
        points = [(float(x), float(y)) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image)


def canvas_like(image: np.ndarray, rng: np.random.Generator,
                varied: bool = True) -> np.ndarray | None:
    """One MNIST digit → the 28×28 float image /draw would feed the model, or ``None``.

    Strokes are traced, drawn at a random pose on a 280×280 canvas, and run through
    :func:`dashcore.preprocess.preprocess`; ``None`` when it finds no digit. ``varied``
    traces at a random ink level and varies the strokes as a hand would
    (:mod:`dashcore.datasets.pen`), so a model learns handwriting, not the tracer's habits.
    """
    if varied:
        strokes = varied_strokes(digit_strokes(image, rng.uniform(*INK_LEVELS)), rng)
    else:
        strokes = digit_strokes(image)
    if not strokes:
        return None
    pose = random_pose(rng, strokes)
    canvas = render(place(strokes, pose, rng), pose.brush)
    return preprocess(canvas)[0]


def canvas_like_images(x: np.ndarray, y: np.ndarray, seed: int = 0,
                       cache_dir: Path | None = None,
                       varied: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Canvas-like renderings of digits ``x`` (uint8 (N, 28, 28)) with labels ``y``.

    One rendering per digit, at a random pose from ``seed``; digits where preprocessing
    finds nothing are left out (so the labels come back too). About 5 ms a digit on
    one core: with ``cache_dir`` the result is kept in a file named by a hash of the
    inputs and the seed, and reused.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256()
        for part in (x.tobytes(), y.tobytes(), str((seed, varied)).encode(), _PARAMS.encode()):
            digest.update(part)
        path = Path(cache_dir) / f"canvas_like-{digest.hexdigest()[:20]}.npz"
        if path.is_file():
            with np.load(path) as saved:
                return saved["x"], saved["y"]
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit, label in zip(x, y, strict=True):
        out = canvas_like(digit, rng, varied)
        if out is not None:
            images.append(np.round(out * 255.0).astype(np.uint8))
            labels.append(label)
    xs = np.stack(images) if images else np.zeros((0, *x.shape[1:]), np.uint8)
    ys = np.asarray(labels, dtype=y.dtype)
    if path is not None:
        from dashcore.atomic import atomic_write_with

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(path, lambda tmp: np.savez_compressed(tmp, x=xs, y=ys), suffix=".npz")
    return xs, ys


# Anything that changes the renderings changes the cache key.
_PARAMS = repr((CANVAS_SIDE, BRUSH_RANGE, HEIGHT_RANGE, MAX_WIDTH, SLANT_RANGE,
                ROTATION_DEGREES, ASPECT_RANGE, JITTER_PIXELS, INK_LEVELS, "v2"))


HELDOUT_SEED = 2024  # poses of the held-out canvas-like test set (fixed: old and new models
# are compared on the very same images)


def heldout_canvas_set(cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Canvas-like renderings of the 2,000 held-out replay digits (never trained on).

    The fair test of a canvas-ready model: the digits are MNIST training images that
    :data:`dashcore.datasets.strokes.REPLAY_RANGE` keeps out of the default model's
    training, drawn at fixed random poses (:data:`HELDOUT_SEED`).
    """
    from dashcore.datasets.catalog import load_mnist
    from dashcore.datasets.strokes import REPLAY_START, REPLAY_STOP

    dataset = load_mnist()
    return canvas_like_images(dataset.x_train[REPLAY_START:REPLAY_STOP],
                              dataset.y_train[REPLAY_START:REPLAY_STOP], seed=HELDOUT_SEED,
                              cache_dir=cache_dir, varied=False)
