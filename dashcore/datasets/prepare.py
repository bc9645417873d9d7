"""Turning images and labels into what a model trains on (scaling, one-hot, class subsets),
and the steps /data shows for it."""

from __future__ import annotations

import numpy as np

from dashcore.datasets.base import Dataset
from dashcore.errors import UserError

# ---------------------------------------------------------------- preparation


def scale_images(x: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W)`` → float32 ``(N, H, W, 1)`` in [0, 1], as the tutorials do
    (colour ``(N, H, W, 3)`` keeps its channels)."""
    scaled = x.astype(np.float32) / 255.0
    return scaled if x.ndim == 4 else scaled[..., np.newaxis]


def to_model_input(x: np.ndarray) -> np.ndarray:
    """uint8 grey ``(N, H, W)`` → float32 ``(N, H, W, 1)`` in [0, 1] (colour ``(N, H, W, 3)``
    keeps its channels), in one allocation.

    :func:`scale_images` writes ``x.astype(float32) / 255`` as the tutorials do, which holds
    two float copies at once; this writes the result straight into its final array.
    """
    if x.ndim == 4:
        out = np.empty(x.shape, dtype=np.float32)
        np.multiply(x, np.float32(1.0 / 255.0), out=out, dtype=np.float32)
        return out
    out = np.empty((*x.shape, 1), dtype=np.float32)
    np.multiply(x, np.float32(1.0 / 255.0), out=out[..., 0], dtype=np.float32)
    return out


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer labels → one-hot float32 rows, like ``keras.utils.to_categorical``."""
    out = np.zeros((len(y), num_classes), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def preparation_steps(dataset: Dataset) -> list[dict[str, str]]:
    """The tutorial's preparation, step by step, with shapes before and after (for /data)."""
    x, y = dataset.x_train, dataset.y_train
    shape = "×".join(str(d) for d in x.shape)
    k = dataset.num_classes
    steps = [
        {"step": "Scale pixels to [0, 1]", "code": "x = x.astype('float32') / 255",
         "before": f"{shape} uint8 (0–255)", "after": f"{shape} float32 (0–1)"}]
    if x.ndim == 3:  # grey images need the channel axis; colour ones already have it (RGB)
        steps.append({"step": "Add the channel axis", "code": "x = np.expand_dims(x, -1)",
                      "before": shape, "after": f"{shape}×1"})
    return [
        *steps,
        {"step": "One-hot encode labels", "code": f"y = keras.utils.to_categorical(y, {k})",
         "before": f"{len(y)} integers", "after": f"{len(y)}×{k} float32"},
    ]


def subset_classes(x: np.ndarray, y: np.ndarray, classes: list[int]) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Keep only ``classes`` and relabel them 0..len(classes)-1 (e.g. 3 vs 8 → 0 vs 1)."""
    classes = sorted(set(int(c) for c in classes))
    if len(classes) < 2:
        raise UserError("Pick at least two classes to train on.")
    mask = np.isin(y, classes)
    lookup = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    return x[mask], lookup[y[mask]]
