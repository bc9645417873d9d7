"""The numbers behind /data: counts, pixel statistics, mean images, samples and a PCA map.

Pure NumPy on a :class:`~dashcore.datasets.base.Dataset`, so every view is testable without
Streamlit or Plotly. The functions avoid float copies of the whole training set
(60,000×28×28 uint8 is 47 MB; as float64 it would be 376 MB): pixel statistics come
from a 256-bin histogram, and the PCA runs on a subsample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dashcore.datasets.base import Dataset

PCA_SAMPLE = 2_000  # images projected on the PCA map: enough to see clusters, SVD in ~0.1 s
PCA_SEED = 0  # fixed, so reshuffling the sample grid does not move the map
PCA_MAX_SIDE = 32  # larger uploads are block-averaged to at most 32×32 before the PCA
_CHUNK = 1 << 20  # pixels per np.bincount call


def fingerprint(dataset: Dataset) -> str:
    """A short, cheap content hash, so caches notice a dataset replaced under the same name."""
    digest = hashlib.sha1(dataset.name.encode())
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        digest.update(repr((array.shape, array.dtype.str)).encode())
    digest.update(np.ascontiguousarray(dataset.y_train).tobytes())
    digest.update(np.ascontiguousarray(dataset.y_test).tobytes())
    digest.update(np.ascontiguousarray(dataset.x_train[:: max(1, len(dataset.x_train) // 64)])
                  .tobytes())
    return digest.hexdigest()[:16]


def class_counts(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Images per class in train and in test (index = class), zeros included."""
    k = dataset.num_classes
    return (np.bincount(dataset.y_train, minlength=k)[:k],
            np.bincount(dataset.y_test, minlength=k)[:k])


def pixel_histogram(x: np.ndarray) -> np.ndarray:
    """How many pixels take each value 0..255 (uint8 images; exact).

    Counted in chunks of a million pixels: ``np.bincount`` widens its input to int64, and
    doing that to all of MNIST at once would allocate 376 MB and take ten times longer.
    """
    flat = np.asarray(x, dtype=np.uint8).reshape(-1)
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(flat), _CHUNK):
        counts += np.bincount(flat[start:start + _CHUNK], minlength=256)
    return counts


def _mean_std_from_histogram(counts: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of pixel values, scaled to [0, 1] as models see them."""
    values = np.arange(len(counts), dtype=np.float64) / 255.0
    total = counts.sum()
    if total == 0:  # an empty split (e.g. drawings with no test images yet)
        return float("nan"), float("nan")
    mean = float((values * counts).sum() / total)
    var = float(((values - mean) ** 2 * counts).sum() / total)
    return mean, var**0.5


@dataclass(frozen=True)
class Summary:
    """The stats table's rows: label → (train value, test value), all as display strings."""

    rows: list[dict[str, str]]
    pixel_mean: float  # train pixels, scaled to [0, 1]
    pixel_std: float


CHANNEL_NAMES = ("red", "green", "blue")


def channel_histograms(x: np.ndarray) -> np.ndarray:
    """``(C, 256)`` pixel-value counts per channel: one row for grey, three for RGB."""
    if x.ndim == 4:
        return np.stack([pixel_histogram(x[..., c]) for c in range(x.shape[3])])
    return pixel_histogram(x)[np.newaxis]


def summary(dataset: Dataset) -> Summary:
    """Counts, image format, pixel mean/std (per channel for colour) and class balance."""
    train_counts, test_counts = class_counts(dataset)
    stats: dict[str, dict[str, str]] = {}
    moments: dict[str, tuple[float, float]] = {}
    for split, x, counts in (("train", dataset.x_train, train_counts),
                             ("test", dataset.x_test, test_counts)):
        mean, std = moments[split] = _mean_std_from_histogram(pixel_histogram(x))
        stats[split] = {
            "Images": f"{len(x):,}",
            "Image size": dataset.describe_images(),
            "Classes": f"{int((counts > 0).sum())} of {dataset.num_classes}",
            "Smallest / largest class": f"{int(counts.min()):,} / {int(counts.max()):,}",
            "Pixel mean (0–1)": f"{mean:.4f}",
            "Pixel std (0–1)": f"{std:.4f}",
        }
        if dataset.colour:
            for channel, counts_c in zip(CHANNEL_NAMES, channel_histograms(x), strict=True):
                mean_c, std_c = _mean_std_from_histogram(counts_c)
                stats[split][f"{channel.capitalize()} mean / std (0–1)"] = (
                    f"{mean_c:.4f} / {std_c:.4f}")
    rows = [{"statistic": key, "train": stats["train"][key], "test": stats["test"][key]}
            for key in stats["train"]]
    return Summary(rows=rows, pixel_mean=moments["train"][0], pixel_std=moments["train"][1])


def mean_images(x: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """The average image of each class, float32 ``(K, H, W[, C])`` in 0–255 (NaN: no images)."""
    out = np.full((num_classes, *x.shape[1:]), np.nan, dtype=np.float32)
    for label in range(num_classes):
        members = x[y == label]
        if len(members):
            out[label] = members.sum(axis=0, dtype=np.float64) / len(members)
    return out


def sample_indices(y: np.ndarray, num_classes: int, per_class: int, seed: int) -> np.ndarray:
    """``(K, per_class)`` random indices into ``y``, one row per class; -1 where a class runs out.

    The same seed gives the same grid, so a user can come back to a picture they saw.
    """
    rng = np.random.default_rng(seed)
    out = np.full((num_classes, per_class), -1, dtype=np.int64)
    for label in range(num_classes):
        members = np.flatnonzero(y == label)
        take = rng.choice(members, size=min(per_class, len(members)), replace=False)
        out[label, : len(take)] = take
    return out


@dataclass(frozen=True)
class Projection:
    """A 2-D PCA of a subsample: where each image lands and how much variance each axis keeps."""

    coords: np.ndarray  # (n, 2) float32
    labels: np.ndarray  # (n,) int64 class of each point
    indices: np.ndarray  # (n,) int64 index of each point in the split
    explained: tuple[float, float]  # fraction of the subsample's variance on PC1, PC2


def _shrink(images: np.ndarray, max_side: int) -> np.ndarray:
    """uint8 ``(n, H, W[, C])`` → float64 in [0, 1], block-averaged so no side exceeds
    ``max_side`` (channels kept).

    Sums in uint32 before converting, so 2,000 uploads of 256×256 never become a 1 GB float copy.
    """
    height, width = images.shape[1:3]
    channels = images.shape[3:]
    factor = -(-max(height, width) // max_side)  # ceiling division
    if factor <= 1:
        return images.astype(np.float64) / 255.0
    h, w = height // factor * factor, width // factor * factor
    blocks = images[:, :h, :w].reshape(len(images), h // factor, factor, w // factor, factor,
                                       *channels)
    return blocks.sum(axis=(2, 4), dtype=np.uint32) / (255.0 * factor * factor)


def _top_eigenvectors(centred: np.ndarray, count: int, seed: int, extra: int = 6,
                      iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Top ``count`` eigenpairs of ``centred.T @ centred`` by subspace iteration.

    The covariance is never formed: each step multiplies by ``centred`` and its transpose,
    so the cost grows with pixels × images, not pixels² × images (a 32×32 colour image has
    3,072 values; forming that 3,072² matrix from 2,000 images took 14 s here). A full
    ``eigh``/``svd`` goes through multi-threaded LAPACK, which measured 1.5–8 s on this
    shared 2-core box. ``extra`` oversampling vectors make the top two converge fast.
    """
    size = centred.shape[1]
    width = min(size, count + extra)
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((size, width)))[0]
    for _ in range(iterations):
        basis = np.linalg.qr(centred.T @ (centred @ basis))[0]
    projected = centred @ basis
    values, vectors = np.linalg.eigh(projected.T @ projected)  # small width×width problem
    order = np.argsort(values)[::-1][:count]
    return np.clip(values[order], 0.0, None), (basis @ vectors[:, order]).T


def pca_2d(x: np.ndarray, y: np.ndarray, sample: int = PCA_SAMPLE,
           seed: int = PCA_SEED) -> Projection:
    """Project a random subsample of images onto its first two principal components.

    The components are the top eigenvectors of the subsample's pixel covariance, i.e. the
    right singular vectors an SVD of the centred data gives (no scikit-learn needed). Images
    larger than 32×32 (colour: 16×16) are block-averaged first so a 256×256 upload stays
    fast. Signs are fixed so the same data always gives the same picture.
    """
    rng = np.random.default_rng(seed)
    n = min(sample, len(x))
    indices = np.sort(rng.choice(len(x), size=n, replace=False))
    # Colour images go to half the side, so the map has as many values per image as grey.
    side = PCA_MAX_SIDE // 2 if np.ndim(x) == 4 else PCA_MAX_SIDE
    images = _shrink(np.asarray(x[indices], dtype=np.uint8), side)
    flat = images.reshape(n, -1)
    centred = flat - flat.mean(axis=0)
    top, components = _top_eigenvectors(centred, 2, seed)
    # An eigenvector's sign is arbitrary: make each one's largest entry positive.
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    coords = centred @ components.T
    if coords.shape[1] < 2:  # a single pixel per image: pad the missing axis
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        top = np.pad(top, (0, 2 - len(top)))
    total = float(np.square(centred).sum()) or 1.0
    return Projection(coords=coords.astype(np.float32),
                      labels=np.asarray(y)[indices].astype(np.int64),
                      indices=indices.astype(np.int64),
                      explained=(float(top[0] / total), float(top[1] / total)))


def mosaic(tiles: np.ndarray, gap: int = 2, fill: float = 0.0) -> np.ndarray:
    """Lay ``(rows, cols, H, W[, C])`` tiles out as one ``(rows·(H+gap)-gap, cols·(W+gap)-gap
    [, C])`` image (colour tiles stay colour).

    One image (sent to the browser as a PNG) is far lighter than a chart per tile.
    """
    rows, cols, height, width = tiles.shape[:4]
    out = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap, *tiles.shape[4:]),
                  fill, dtype=tiles.dtype)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + gap), c * (width + gap)
            out[top:top + height, left:left + width] = tiles[r, c]
    return out


def sample_tiles(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Gather ``(K, S)`` sample indices into ``(K, S, H, W[, C])`` images; -1: a blank tile."""
    tiles = np.zeros((*indices.shape, *x.shape[1:]), dtype=x.dtype)
    present = indices >= 0
    tiles[present] = x[indices[present]]
    return tiles
