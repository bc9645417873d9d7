"""MNIST digits as pen strokes, so tests and training can "draw" real handwriting.

A person draws on /draw with a round brush, stroke by stroke; MNIST only has the ink.
Turning each digit back into strokes (thin the ink to a one-pixel skeleton, then trace
the skeleton as a graph into ordered polylines) gives realistic drawings of known
labels: the browser tests replay them with the mouse, and
:mod:`dashcore.datasets.canvas_like` renders them like the canvas does to train on.

Strokes are ``(k, 2)`` float arrays of ``(x, y)`` in ``[0, 1]`` of the 28×28 frame
(x to the right, y down), pen order roughly top-left first.

Example:
    >>> from dashcore.datasets.strokes import replay_set
    >>> label, strokes = replay_set(1)[0]
    >>> strokes[0].shape[1]
    2
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# The last 2,000 MNIST *training* images (indices 58,000–59,999) are kept out of the
# default model's training, so replaying them tests it on digits it has never seen.
REPLAY_START = 58_000
REPLAY_STOP = 60_000
REPLAY_RANGE = range(REPLAY_START, REPLAY_STOP)

UPSCALE = 3  # the skeleton is traced at 3× MNIST's resolution (84×84): smoother strokes
INK_LEVEL = 0.4  # grey level (0–1) above which a pixel is ink when thinning
SPUR_PIXELS = 2 * UPSCALE  # side branches this short are thinning artefacts, not pen moves
SIMPLIFY_PIXELS = 0.5  # Douglas–Peucker tolerance, in traced pixels (keeps the shape)

# Neighbour offsets (dy, dx) clockwise from north: P2..P9 in Zhang–Suen's notation.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning of a boolean image to a one-pixel-wide skeleton (numpy only).

    Vectorised: every pass tests all pixels at once, so an 84×84 digit takes a few
    milliseconds without scikit-image.
    """
    skel = np.pad(np.asarray(mask, dtype=bool), 1)
    height, width = skel.shape
    while True:
        changed = False
        for step in (0, 1):
            p = [skel[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx] for dy, dx in _RING]
            core = skel[1:-1, 1:-1]
            count = sum(q.astype(np.int8) for q in p)
            transitions = sum((~p[i] & p[(i + 1) % 8]).astype(np.int8) for i in range(8))
            if step == 0:
                a, b = ~(p[0] & p[2] & p[4]), ~(p[2] & p[4] & p[6])
            else:
                a, b = ~(p[0] & p[2] & p[6]), ~(p[0] & p[4] & p[6])
            remove = core & (count >= 2) & (count <= 6) & (transitions == 1) & a & b
            if remove.any():
                core[remove] = False
                changed = True
        if not changed:
            return skel[1:-1, 1:-1]


def _graph(skel: np.ndarray) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """Skeleton pixels as a graph: 8-neighbours, minus diagonals that a corner already joins.

    Without that pruning every staircase corner becomes a tiny triangle and the tracer
    would emit one-pixel strokes around it.
    """
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(skel), strict=True)}
    graph: dict[tuple[int, int], set[tuple[int, int]]] = {p: set() for p in pixels}
    for r, c in pixels:
        for dr, dc in _RING:
            q = (r + dr, c + dc)
            if q not in pixels:
                continue
            if dr and dc and ((r + dr, c) in pixels or (r, c + dc) in pixels):
                continue  # a 4-connected corner links them already
            graph[(r, c)].add(q)
    return graph


def _prune_spurs(graph: dict[tuple[int, int], set[tuple[int, int]]]) -> None:
    """Remove short branches from an end point to a junction (thinning's whiskers)."""
    for start in [p for p, n in graph.items() if len(n) == 1]:
        path, prev, node = [start], None, start
        while len(graph.get(node, ())) == 2 or node == start:
            nxt = [q for q in graph[node] if q != prev]
            if not nxt:
                break
            prev, node = node, nxt[0]
            path.append(node)
            if len(path) > SPUR_PIXELS + 1:
                break
        if len(path) <= SPUR_PIXELS + 1 and len(graph.get(node, ())) >= 3:
            for p in path[:-1]:
                for q in graph.pop(p, set()):
                    graph.get(q, set()).discard(p)


def _trace(graph: dict[tuple[int, int], set[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
    """Cover every skeleton edge once with as few, as straight pen paths as a greedy walk can.

    Each path starts at the top-left-most unfinished end point (an odd-degree pixel,
    else any pixel with edges left) and at junctions goes on along the edge that
    bends least, as a pen would.
    """
    left = {p: set(n) for p, n in graph.items() if n}
    paths: list[list[tuple[int, int]]] = []
    while left:
        odd = [p for p, n in left.items() if len(n) % 2 == 1]
        start = min(odd or list(left), key=lambda p: (p[0] + p[1], p[0]))
        path = [start]
        node = start
        while left.get(node):
            options = sorted(left[node])
            if len(path) >= 2:
                back = path[max(0, len(path) - 4)]
                heading = np.subtract(node, back, dtype=float)
                nxt = max(options, key=lambda q: float(np.dot(np.subtract(q, node), heading))
                          / (np.hypot(*np.subtract(q, node)) or 1.0))
            else:
                nxt = options[0]
            left[node].discard(nxt)
            left[nxt].discard(node)
            for p in (node, nxt):
                if not left[p]:
                    del left[p]
            path.append(nxt)
            node = nxt
        paths.append(path)
    return paths


def _smooth(points: np.ndarray) -> np.ndarray:
    """A 3-point moving average (ends fixed): takes the pixel staircase off diagonals."""
    if len(points) < 3:
        return points
    out = points.copy()
    out[1:-1] = (points[:-2] + points[1:-1] + points[2:]) / 3.0
    return out


def _simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas–Peucker: drop points within ``tolerance`` of the line their neighbours span."""
    if len(points) < 3:
        return points
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = points[i], points[j]
        seg = b - a
        length = float(np.hypot(*seg))
        rel = points[i + 1:j] - a
        if length == 0:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / length
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return points[keep]


def digit_strokes(image: np.ndarray, ink_level: float = INK_LEVEL) -> list[np.ndarray]:
    """One 28×28 digit (uint8 0–255 or float 0–1) → its pen strokes.

    ``ink_level`` is the grey level that counts as ink: lower joins faint parts (a loop
    closes), higher drops them (a loop opens), as different hands would have drawn it.
    Returns ``(k, 2)`` float arrays of ``(x, y)`` in [0, 1] of the 28×28 frame, the
    stroke nearest the top-left first; ``[]`` for an image with no ink.
    """
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"Expected one grey image (H×W), got an array of shape {x.shape}.")
    if x.size and x.max() > 1.0:
        x = x / 255.0
    height, width = x.shape
    big = np.asarray(Image.fromarray(x).resize((width * UPSCALE, height * UPSCALE),
                                               Image.Resampling.BILINEAR))
    graph = _graph(thin(big > ink_level))
    _prune_spurs(graph)
    strokes = []
    for path in _trace(graph):
        if len(path) < 2:
            continue
        rc = np.asarray(path, dtype=np.float64)
        xy = _simplify(_smooth(rc[:, ::-1] + 0.5), SIMPLIFY_PIXELS)
        strokes.append((xy / (UPSCALE * np.array([width, height]))).astype(np.float32))
    return strokes


def replay_set(count: int, seed: int = 0) -> list[tuple[int, list[np.ndarray]]]:
    """``count`` (label, strokes) pairs from the held-out training digits :data:`REPLAY_RANGE`.

    The default model never trains on these images, so a drawing replayed from them is
    a fair test. ``seed`` picks which ones (without repeats); the same seed always gives
    the same digits. At most ``len(REPLAY_RANGE)`` (2,000).
    """
    from dashcore.datasets.catalog import load_mnist

    if not 0 <= count <= len(REPLAY_RANGE):
        raise ValueError(f"count must be from 0 to {len(REPLAY_RANGE)}, got {count}.")
    dataset = load_mnist()
    picks = np.random.default_rng(seed).choice(len(REPLAY_RANGE), size=count, replace=False)
    indices = [REPLAY_START + int(i) for i in picks]
    return [(int(dataset.y_train[i]), digit_strokes(dataset.x_train[i])) for i in indices]
