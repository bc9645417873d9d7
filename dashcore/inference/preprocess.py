"""Canvas drawing → an MNIST-style 28×28 image, the way MNIST itself was made.

MNIST digits were size-normalised to fit a 20×20 box (aspect ratio kept), anti-aliased,
and placed in a 28×28 field so that their centre of mass sits at the centre. A canvas
drawing that is merely resized to 28×28 looks nothing like that (too big, off-centre,
strokes too thin or too thick), which is why naive digit apps misread drawings. This
module repeats MNIST's steps and adds what a finger or mouse drawing needs:

1. grey ink on black, whatever the input (RGBA with an opaque or transparent background,
   RGB, grey; dark ink on light paper is inverted);
2. noise specks (tiny isolated dots) are dropped; an empty or near-empty canvas gives
   ``None``, so callers show "Draw a digit" instead of a guess;
3. the ink's bounding box is cropped and its stroke width normalised to MNIST's (a
   hairline brush is thickened, a marker-thick brush thinned);
4. scaled to fit 20×20 keeping the aspect ratio (a "1" stays a tall thin line);
5. placed in 28×28 by centre of mass, intensities in [0, 1].

Example:
    >>> import numpy as np
    >>> canvas = np.zeros((280, 280, 4), np.uint8)
    >>> canvas[40:240, 130:150] = 255            # a white vertical stroke: a "1"
    >>> image = to_mnist(canvas)
    >>> image.shape, image.dtype, float(image.max())
    ((28, 28), dtype('float32'), 1.0)
    >>> to_mnist(np.zeros((280, 280, 4), np.uint8)) is None   # nothing drawn
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

EMPTY_MESSAGE = "Draw a digit"  # what callers show instead of a guess when to_mnist is None

SIDE = 28  # output side, pixels (MNIST)
BOX = 20  # the digit's longer side after scaling, pixels (MNIST's size normalisation)
INK_THRESHOLD = 0.25  # grey level above which a pixel counts as ink when finding shapes
# Stroke width an MNIST digit has inside its 20×20 box, in pixels. Measured on the MNIST
# training set with the same estimator as _stroke_width (median ≈ 3.1 px, 10–90%: 2.5–3.9).
TARGET_STROKE = 3.0
THIN_FACTOR, THICK_FACTOR = 0.75, 1.5  # leave widths inside [0.75, 1.5]×target untouched
WORK_MAX_SIDE = 140  # canvases are averaged down to at most this side before analysis
WORK_SCALE = 4  # morphology runs at 4× the final resolution: cheap yet smooth
SPECK_FRACTION = 0.10  # a dot-like shape with < 10% of the main shape's ink is a speck
DUST_FRACTION = 0.01  # any shape with < 1% of the main shape's ink is dust
MIN_EXTENT_FRACTION = 0.03  # a shape spanning < 3% of the canvas side is a speck
DOT_LENGTH = 2.5  # a shape no longer than this many brush widths is a dot, not a stroke


@dataclass(frozen=True)
class InkStats:
    """What was found on the canvas (shown on /draw and used by the tests).

    Attributes:
        bbox: (top, left, bottom, right) of the kept ink in canvas pixels, bottom/right
            exclusive; ``None`` when nothing was drawn.
        stroke_width: estimated brush width in canvas pixels (0 when empty).
        dropped_specks: number of small isolated shapes ignored as noise.
    """

    bbox: tuple[int, int, int, int] | None
    stroke_width: float
    dropped_specks: int


def to_grey(image: np.ndarray) -> np.ndarray:
    """Any canvas image → float32 ``(H, W)`` ink intensity in [0, 1], ink bright.

    RGBA with a transparent background: ink is whatever was painted (its alpha), in any
    colour. Opaque images: luminance, inverted when the border is bright (dark ink on
    light paper), so both "white on black" and "black on white" work.
    """
    x = np.asarray(image)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"Expected a grey, RGB or RGBA image (H×W[×C]), got shape {x.shape}.")
    scale = np.float32(1.0 / 255.0) if x.dtype == np.uint8 or (x.size and x.max() > 1) \
        else np.float32(1.0)
    channels = 1 if x.ndim == 2 else x.shape[2]
    if channels in (2, 4):  # an alpha channel: is the background transparent?
        alpha = x[..., channels - 1].astype(np.float32) * scale
        if _border(alpha).mean() < 0.5:
            return alpha  # painted = ink (converting only this channel keeps it fast)
    else:
        alpha = None
    x = x.astype(np.float32) * scale
    if x.ndim == 2:
        grey = x
    elif channels in (1, 2):
        grey = x[..., 0]
    else:
        grey = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    if alpha is not None:
        grey = grey * alpha  # composite over black
    if grey.size and float(np.median(_border(grey))) > 0.5:
        grey = 1.0 - grey  # dark ink on light paper
    return np.ascontiguousarray(grey, dtype=np.float32)


def to_mnist(image: np.ndarray) -> np.ndarray | None:
    """A canvas drawing → float32 ``(28, 28)`` in [0, 1] like an MNIST digit, or ``None``.

    ``None`` means nothing worth predicting was drawn (empty canvas, a few specks, a
    single dot): show :data:`EMPTY_MESSAGE`, never a guess.
    """
    return preprocess(image)[0]


def preprocess(image: np.ndarray) -> tuple[np.ndarray | None, InkStats]:
    """Like :func:`to_mnist`, also returning what was found on the canvas."""
    grey, factor = _shrink(to_grey(image))
    keep, width, dropped = _clean_ink(grey)
    if keep is None:
        return None, InkStats(None, 0.0, dropped)
    rows, cols = np.nonzero(keep)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    stats = InkStats((int(top) * factor, int(left) * factor, int(bottom) * factor,
                      int(right) * factor), float(width) * factor, dropped)
    crop = np.where(keep, grey, 0.0)[top:bottom, left:right].astype(np.float32)
    work = _normalise_strokes(crop, width)
    digit = _fit_box(work, BOX)
    return _centre_by_mass(digit, SIDE), stats


# ------------------------------------------------------------------ finding the digit


def _shrink(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """Average k×k blocks so the longer side is at most ``WORK_MAX_SIDE``; returns (image, k).

    The digit ends up 20 pixels tall, so a 280-pixel canvas (or a phone's 2× one) holds
    far more detail than needed; halving it makes every later step ~4× cheaper.
    """
    factor = max(1, max(grey.shape) // WORK_MAX_SIDE)
    if factor == 1:
        return grey, 1
    height, width = (grey.shape[0] // factor) * factor, (grey.shape[1] // factor) * factor
    image = Image.fromarray(np.ascontiguousarray(grey[:height, :width]))
    return np.asarray(image.reduce(factor), dtype=np.float32), factor


def _border(x: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of an image, as one flat array."""
    if x.shape[0] < 3 or x.shape[1] < 3:
        return x.ravel()
    return np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])


def _label_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a boolean image: (labels, areas, extents).

    ``labels`` numbers the components 1..K (0 = background); ``areas[k - 1]`` is the
    pixel count and ``extents[k - 1]`` the longer side of the bounding box of
    component k. Works on horizontal runs of ink, so it costs a few operations per run
    rather than per pixel: a drawn digit has only a handful of runs per row.
    """
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    run_rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]  # exclusive ends, same order as the starts
    parent = list(range(len(run_rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(run_rows, np.arange(height + 1))
    for row in range(1, height):
        prev = range(row_first[row - 1], row_first[row])
        if not prev:
            continue
        for i in range(row_first[row], row_first[row + 1]):
            for j in prev:
                # 8-connectivity: runs touch if they overlap allowing one diagonal step.
                if starts[j] <= ends[i] and starts[i] <= ends[j]:
                    root_i, root_j = find(i), find(j)
                    if root_i != root_j:
                        parent[root_i] = root_j
    roots = [find(i) for i in range(len(parent))]
    numbering = {root: k for k, root in enumerate(dict.fromkeys(roots))}
    run_label = np.array([numbering[r] for r in roots], dtype=np.int64)
    count = len(numbering)
    labels = np.zeros((height, width), dtype=np.int32)
    for i in range(len(roots)):
        labels[run_rows[i], starts[i]:ends[i]] = run_label[i] + 1
    areas = np.bincount(run_label, weights=ends - starts, minlength=count).astype(np.int64)
    top = np.full(count, height)
    bottom = np.zeros(count, np.int64)
    left = np.full(count, width)
    right = np.zeros(count, np.int64)
    np.minimum.at(top, run_label, run_rows)
    np.maximum.at(bottom, run_label, run_rows + 1)
    np.minimum.at(left, run_label, starts)
    np.maximum.at(right, run_label, ends)
    extents = np.maximum(bottom - top, right - left)
    return labels, areas, extents


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a shape, in pixels: 2 × area / perimeter.

    A stroke of width w and length L has area wL and perimeter ≈ 2L. The perimeter is
    counted along pixel edges and corrected by π/4 (the mean ratio of Euclidean to
    city-block length), so curved digits are measured within about ±25%.
    """
    area = float(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1).astype(np.int8)
    edges = np.count_nonzero(np.diff(padded, axis=0)) + np.count_nonzero(np.diff(padded, axis=1))
    return 2.0 * area / (edges * math.pi / 4.0)


def _clean_ink(grey: np.ndarray) -> tuple[np.ndarray | None, float, int]:
    """(mask of the ink to keep, stroke width, specks dropped); mask ``None`` if no digit.

    Specks are dropped in two passes: shapes spanning under 3% of the canvas side are
    always noise; then, measured against the biggest remaining shape, so is dust (< 1%
    of its ink) and any dot-like blob (no longer than 2.5 brush widths; a round dot is
    2) with < 10% of its ink. Separate strokes of one digit (the bar of a "5", the stem
    of a "4") are long, so they stay. What is left must be longer than a single tap to
    count as a digit.
    """
    mask = grey > INK_THRESHOLD
    if not mask.any():
        return None, 0.0, 0
    labels, areas, extents = _label_components(mask)
    min_extent = MIN_EXTENT_FRACTION * max(grey.shape)
    candidates = [k for k in range(len(areas)) if extents[k] >= min_extent]
    if not candidates:
        return None, 0.0, len(areas)
    main = max(candidates, key=lambda k: areas[k])
    width_main = max(_stroke_width(labels == main + 1), 1.0)
    keep_ids = [k + 1 for k in candidates if k == main or not (
        areas[k] < DUST_FRACTION * areas[main]
        or (extents[k] <= DOT_LENGTH * width_main and areas[k] < SPECK_FRACTION * areas[main]))]
    dropped = len(areas) - len(keep_ids)
    keep = labels == keep_ids[0] if len(keep_ids) == 1 else np.isin(labels, keep_ids)
    rows, cols = np.nonzero(keep)
    extent = max(np.ptp(rows), np.ptp(cols)) + 1
    width = _stroke_width(keep)
    if extent <= DOT_LENGTH * max(width, 1.0):  # a single dot or tap: near-empty
        return None, width, dropped
    return keep, width, dropped


# ------------------------------------------------------------------ MNIST's normalisation


def _resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased resize of a float image (area averaging when shrinking)."""
    if x.shape == (height, width):
        return x
    image = Image.fromarray(np.ascontiguousarray(x, dtype=np.float32))
    shrinking = height < x.shape[0] and width < x.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(image.resize((width, height), method), dtype=np.float32)


def _fit_size(height: int, width: int, box: int) -> tuple[int, int]:
    """Size that fits ``box``×``box`` with the longer side equal to ``box``, aspect kept."""
    scale = box / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _grey_morph(x: np.ndarray, radius: int, op) -> np.ndarray:
    """Grey dilation (``np.maximum``) or erosion (``np.minimum``) by a square of radius r."""
    if radius <= 0:
        return x
    out = np.pad(x, radius)
    for axis in (0, 1):
        acc = out.copy()
        length = out.shape[axis]
        for shift in range(1, radius + 1):
            lo = [slice(None)] * 2
            hi = [slice(None)] * 2
            lo[axis], hi[axis] = slice(0, length - shift), slice(shift, length)
            op(acc[tuple(lo)], out[tuple(hi)], out=acc[tuple(lo)])
            op(acc[tuple(hi)], out[tuple(lo)], out=acc[tuple(hi)])
        out = acc
    return out


def _normalise_strokes(crop: np.ndarray, width: float) -> np.ndarray:
    """Bring the stroke width near MNIST's, working at ``WORK_SCALE``× the final size.

    A brush much thinner than MNIST's pen would become a faint hairline once the digit
    is shrunk to 20 pixels; a marker-thick one would fill the loops of a 6 or an 8.
    """
    height, width_px = _fit_size(*crop.shape, BOX * WORK_SCALE)
    scale = height / crop.shape[0] if crop.shape[0] >= crop.shape[1] else width_px / crop.shape[1]
    work = _resize(crop, height, width_px)
    target = TARGET_STROKE * WORK_SCALE
    scaled_width = width * scale
    if scaled_width < THIN_FACTOR * target:
        radius = round((target - scaled_width) / 2)
        work = _grey_morph(work, radius, np.maximum)
        peak = float(work.max())
        if peak > 0:
            work = np.minimum(work / peak, 1.0)  # a shrunk hairline is faint: restore its ink
    elif scaled_width > THICK_FACTOR * target:
        radius = round((scaled_width - target) / 2)
        thinned = _grey_morph(work, radius, np.minimum)[radius:-radius, radius:-radius]
        # Thinning must not erase parts of the digit: keep it only if most ink survives.
        if np.count_nonzero(thinned > INK_THRESHOLD) >= 0.25 * np.count_nonzero(
                work > INK_THRESHOLD):
            work = thinned
    return work


def _fit_box(work: np.ndarray, box: int) -> np.ndarray:
    """Crop to the ink again (morphology moved its edges) and shrink to fit box×box."""
    rows, cols = np.nonzero(work > 0.02)
    if len(rows) == 0:
        return np.zeros((1, 1), np.float32)
    work = work[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    digit = _resize(work, *_fit_size(*work.shape, box))
    peak = float(digit.max())
    return np.clip(digit / peak, 0.0, 1.0) if peak > 0 else digit


def _centre_by_mass(digit: np.ndarray, side: int) -> np.ndarray:
    """Place ``digit`` in a side×side field with its centre of mass at the centre.

    The shift is whole pixels, as MNIST's was, and clamped so no ink is cut off.
    """
    height, width = digit.shape
    total = float(digit.sum())
    if total > 0:
        rows = np.arange(height, dtype=np.float64)
        cols = np.arange(width, dtype=np.float64)
        com_r = float(digit.sum(axis=1) @ rows) / total
        com_c = float(digit.sum(axis=0) @ cols) / total
    else:
        com_r, com_c = (height - 1) / 2, (width - 1) / 2
    centre = (side - 1) / 2
    top = min(max(round(centre - com_r), 0), side - height)
    left = min(max(round(centre - com_c), 0), side - width)
    out = np.zeros((side, side), dtype=np.float32)
    out[top:top + height, left:left + width] = digit
    return out


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a grey image (what MNIST centred on)."""
    x = np.asarray(image, dtype=np.float64)
    total = x.sum()
    if total <= 0:
        return (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    rows, cols = np.indices(x.shape)
    return float((rows * x).sum() / total), float((cols * x).sum() / total)
