"""A second, independent way of turning MNIST digits into pen strokes: the never-seen check.

:mod:`dashcore.datasets.strokes` thins the ink with Zhang–Suen, builds a pixel graph and
covers its edges with an Euler-style walk; the canvas-ready training renders its strokes.
A model can learn that one extractor's habits (where strokes start, how junctions are
joined, how corners are rounded) instead of handwriting. This module gets strokes another
way, so that strokes from it test the model on drawings made unlike any it trained on:

- **skeleton**: the digit is upscaled 4× with cubic splines and a Gaussian blur (not
  bilinear), thresholded lower, and thinned with Guo–Hall (not Zhang–Suen);
- **tracing**: a pen *walker* starts at a free end (else at a loop's top), steps to the
  unvisited neighbour that keeps its heading best, and lifts when none is left; pixels next
  to its path count as inked, so side branches become strokes of their own (no graph, no
  Euler cover);
- **smoothing**: Chaikin corner cutting, then resampling every few pixels (not a moving
  average and Douglas–Peucker).

:func:`never_seen_set` applies it to MNIST *test* digits, which no training, validation or
calibration of the workbench's models uses: ``benchmarks/bench_canvas_replay.py --source
never-seen`` replays them on /draw, and nothing tunes on them.

Example:
    >>> label, strokes = never_seen_set(1)[0]
    >>> strokes[0].shape[1]
    2
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

UPSCALE = 4  # traced at 4× MNIST's resolution (112×112)
BLUR_SIGMA = 0.7  # Gaussian blur before thresholding, in upscaled pixels
INK_LEVEL = 0.35 # grey level (0–1) above which a blurred pixel is ink
MIN_STROKE_PIXELS = 3 * UPSCALE  # a walk this short is a thinning whisker, not a stroke
RESAMPLE_PIXELS = 3.0  # spacing of the output points, in upscaled pixels
NEVER_SEEN_SEED = 26  # picks the never-seen test digits (fixed, so models compare alike)

# Neighbour offsets (dy, dx) clockwise from north: P2..P9 in Guo–Hall's notation.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def guo_hall(mask: np.ndarray) -> np.ndarray:
    """Guo–Hall thinning of a boolean image to a one-pixel skeleton (vectorised numpy)."""
    skel = np.pad(np.asarray(mask, dtype=bool), 1)
    height, width = skel.shape
    while True:
        changed = False
        for step in (0, 1):
            p2, p3, p4, p5, p6, p7, p8, p9 = (
                skel[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx] for dy, dx in _RING)
            core = skel[1:-1, 1:-1]
            c = ((~p2 & (p3 | p4)).astype(np.int8) + (~p4 & (p5 | p6)) + (~p6 & (p7 | p8))
                 + (~p8 & (p9 | p2)))
            n1 = (p9 | p2).astype(np.int8) + (p3 | p4) + (p5 | p6) + (p7 | p8)
            n2 = (p2 | p3).astype(np.int8) + (p4 | p5) + (p6 | p7) + (p8 | p9)
            n = np.minimum(n1, n2)
            m = ((p6 | p7 | ~p9) & p8) if step == 0 else ((p2 | p3 | ~p5) & p4)
            remove = core & (c == 1) & (n >= 2) & (n <= 3) & ~m
            if remove.any():
                core[remove] = False
                changed = True
        if not changed:
            return skel[1:-1, 1:-1]


def skeleton(image: np.ndarray) -> np.ndarray:
    """One 28×28 digit → its Guo–Hall skeleton at :data:`UPSCALE`× resolution."""
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"Expected one grey image (H×W), got an array of shape {x.shape}.")
    if x.size and x.max() > 1.0:
        x = x / 255.0
    big = ndimage.gaussian_filter(ndimage.zoom(x, UPSCALE, order=3), BLUR_SIGMA)
    return guo_hall(big > INK_LEVEL)


def _neighbours(on: np.ndarray, r: int, c: int) -> list[tuple[int, int]]:
    height, width = on.shape
    return [(r + dr, c + dc) for dr, dc in _RING
            if 0 <= r + dr < height and 0 <= c + dc < width and on[r + dr, c + dc]]


def _walk(skel: np.ndarray) -> list[list[tuple[int, int]]]:
    """Pen walks over the skeleton: free ends first (top-left first), then leftover loops."""
    free = skel.copy()  # pixels no walk has passed yet
    walks: list[list[tuple[int, int]]] = []
    while free.any():
        pixels = list(zip(*np.nonzero(free), strict=True))
        ends = [(int(r), int(c)) for r, c in pixels if len(_neighbours(free, r, c)) == 1]
        start = min(ends or [(int(r), int(c)) for r, c in pixels],
                    key=lambda p: (p[0] + 0.5 * p[1], p[1]))
        path = [start]
        free[start] = False
        heading = None
        while True:
            options = _neighbours(free, *path[-1])
            if not options:
                break
            here = np.asarray(path[-1], dtype=float)
            if heading is None:
                nxt = min(options, key=lambda q: (abs(q[0] - here[0]) + abs(q[1] - here[1]), q))
            else:
                nxt = max(options, key=lambda q: float(np.dot(np.subtract(q, here), heading))
                          / float(np.hypot(*np.subtract(q, here))))
            # The side pixels of a diagonal step are part of the same line: inked now.
            for q in _neighbours(free, *path[-1]):
                if q != nxt and abs(q[0] - nxt[0]) <= 1 and abs(q[1] - nxt[1]) <= 1 \
                        and len(_neighbours(free, *q)) <= 1:
                    free[q] = False
            free[nxt] = False
            path.append(nxt)
            back = np.asarray(path[max(0, len(path) - 5)], dtype=float)
            step = np.asarray(nxt, dtype=float) - back
            heading = step / (float(np.hypot(*step)) or 1.0)
        walks.append(path)
    return [w for w in walks if len(w) >= MIN_STROKE_PIXELS]


def _chaikin(points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Chaikin corner cutting (ends kept): a hand's rounded corners instead of pixel steps."""
    for _ in range(rounds):
        if len(points) < 3:
            return points
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([q, r], axis=1).reshape(-1, 2),
                                 points[-1:]])
    return points


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points every ``spacing`` along the polyline (its two ends always kept)."""
    if len(points) < 2:
        return points
    lengths = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    if along[-1] <= spacing:
        return points[[0, -1]]
    count = int(np.ceil(along[-1] / spacing)) + 1
    at = np.linspace(0.0, along[-1], count)
    return np.stack([np.interp(at, along, points[:, 0]), np.interp(at, along, points[:, 1])],
                    axis=1)


def walked_strokes(image: np.ndarray) -> list[np.ndarray]:
    """One 28×28 digit → pen strokes, ``(k, 2)`` float32 ``(x, y)`` in [0, 1] of the frame.

    Same form as :func:`dashcore.datasets.strokes.digit_strokes`, made another way (see
    the module docstring); ``[]`` for an image with no ink.
    """
    height, width = np.asarray(image).shape[:2]
    strokes = []
    for walk in _walk(skeleton(image)):
        rc = np.asarray(walk, dtype=np.float64)
        xy = _resample(_chaikin(rc[:, ::-1] + 0.5), RESAMPLE_PIXELS)
        strokes.append((xy / (UPSCALE * np.array([width, height]))).astype(np.float32))
    return strokes


def never_seen_set(count: int, seed: int = NEVER_SEEN_SEED
                   ) -> list[tuple[int, list[np.ndarray]]]:
    """``count`` (label, strokes) pairs: MNIST *test* digits traced by :func:`walked_strokes`.

    No model of the workbench trains, validates or calibrates on MNIST's test set, and no
    training rendering uses this extractor. The same ``seed`` gives the same digits; a digit
    the walker finds no stroke in is skipped (so fewer may come back, rarely).
    """
    from dashcore.datasets.catalog import load_mnist

    dataset = load_mnist()
    if not 0 <= count <= len(dataset.x_test):
        raise ValueError(f"count must be from 0 to {len(dataset.x_test)}, got {count}.")
    picks = np.random.default_rng(seed).choice(len(dataset.x_test), size=count, replace=False)
    out = []
    for i in picks:
        strokes = walked_strokes(dataset.x_test[int(i)])
        if strokes:
            out.append((int(dataset.y_test[int(i)]), strokes))
    return out
