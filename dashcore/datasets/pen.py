"""How a hand varies a stroke: the habits one stroke extractor holds fixed, made random.

:mod:`dashcore.datasets.strokes` turns every digit into strokes the same way: the same
ink level, corners cut the same, every stroke ending exactly where the ink ends and
meeting the next one exactly. People don't draw like that, and a second extractor
doesn't trace like that either (:mod:`dashcore.datasets.walked_strokes`). So the
canvas-ready training varies what a pen varies before it renders a digit:

- **wander**: a slow sideways drift along each stroke (the hand is not a plotter);
- **ends**: a stroke may run on past its end (overshoot) or stop short of it, so strokes
  that should meet may cross or leave a gap;
- **lifts**: a long stroke may be broken where the pen left the paper for a moment;
- **corners**: some strokes get their corners cut once more (a rounder hand).

Strokes are ``(k, 2)`` arrays of ``(x, y)`` in ``[0, 1]`` of the 28×28 frame, as
:func:`dashcore.datasets.strokes.digit_strokes` returns them.

Example:
    >>> import numpy as np
    >>> line = [np.array([[0.2, 0.2], [0.2, 0.8]])]
    >>> len(varied_strokes(line, np.random.default_rng(0))) >= 1
    True
"""

from __future__ import annotations

import math

import numpy as np

STEP = 0.01  # strokes are resampled every this much (≈ 0.3 MNIST pixels) before varying
WANDER_AMPLITUDE = 0.012  # at most this far sideways (≈ 0.3 MNIST pixels)
WANDER_WAVELENGTH = (0.25, 0.8)  # one slow swing per this much stroke length
OVERSHOOT = (0.35, 0.04)  # chance that an end runs on, and how far at most (≈ 1.1 pixels)
UNDERSHOOT = (0.25, 0.03)  # chance that an end stops short, and how far at most
LIFT = (0.15, 0.25, (0.015, 0.045))  # chance, shortest stroke that may lift, gap length range
ROUNDER = 0.4  # chance that a stroke's corners are cut once more


def varied_strokes(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """``strokes`` as one hand might have drawn them: wandering, over- or undershot, lifted."""
    out: list[np.ndarray] = []
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64)
        if len(points) < 2 or _length(points) < 2 * STEP:
            out.append(points)
            continue
        if len(points) >= 3 and rng.random() < ROUNDER:
            points = _cut_corners(points)
        points = _resample(points, STEP)
        points = _wander(points, rng)
        points = _ends(points, rng)
        out.extend(_lift(points, rng))
    return [p.astype(np.float32) for p in out if len(p)]


def _length(points: np.ndarray) -> float:
    return float(np.hypot(*np.diff(points, axis=0).T).sum())


def _cut_corners(points: np.ndarray) -> np.ndarray:
    """One round of Chaikin corner cutting, ends kept."""
    a, b = points[:-1], points[1:]
    middle = np.empty((2 * len(a), 2))
    middle[0::2] = 0.75 * a + 0.25 * b
    middle[1::2] = 0.25 * a + 0.75 * b
    return np.concatenate([points[:1], middle[1:-1], points[-1:]])


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along the polyline (its ends kept)."""
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    count = max(2, int(math.ceil(arc[-1] / step)) + 1)
    at = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])], 1)


def _normals(points: np.ndarray) -> np.ndarray:
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _wander(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    arc = np.arange(len(points)) * STEP
    wavelength = rng.uniform(*WANDER_WAVELENGTH)
    amplitude = rng.uniform(0.0, WANDER_AMPLITUDE)
    offset = amplitude * np.sin(2 * math.pi * arc / wavelength + rng.uniform(0, 2 * math.pi))
    return points + _normals(points) * offset[:, None]


def _ends(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Run each end on along its direction, or stop it short, at random."""
    for end in (0, 1):
        if end == 1:
            points = points[::-1]
        chance, most = OVERSHOOT
        short_chance, shortest = UNDERSHOOT
        roll = rng.random()
        if roll < chance:
            direction = points[0] - points[min(3, len(points) - 1)]
            direction /= max(float(np.hypot(*direction)), 1e-9)
            steps = int(rng.uniform(0, most) / STEP)
            run_on = points[0] + direction * (STEP * np.arange(steps, 0, -1))[:, None]
            points = np.concatenate([run_on, points])
        elif roll < chance + short_chance:
            cut = int(rng.uniform(0, shortest) / STEP)
            if len(points) - cut >= 4:
                points = points[cut:]
        if end == 1:
            points = points[::-1]
    return points


def _lift(points: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The stroke, or two pieces of it where the pen lifted for a moment."""
    chance, shortest, gap = LIFT
    if _length(points) < shortest or rng.random() >= chance:
        return [points]
    start = int(rng.uniform(0.2, 0.8) * len(points))
    stop = start + max(1, int(rng.uniform(*gap) / STEP))
    if stop >= len(points) - 2:
        return [points]
    return [points[:start], points[stop:]]
