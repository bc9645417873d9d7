"""The :class:`Dataset` type every loader returns, and the names of the built-in sets.

Kept apart from the loaders so that the drawings and uploads modules can build datasets
without importing the catalogue that lists them (no import loop).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from dashcore.errors import UserError

MNIST = "MNIST"
FASHION = "Fashion-MNIST"
DRAWINGS = "Your drawings"  # the labelled set saved from /draw (see dashcore.datasets.drawings)
UPLOAD_PREFIX = "upload:"  # uploaded datasets are named "upload:<name>"
REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CLASSES = 100
MIN_SIDE, MAX_SIDE = 8, 256  # image side lengths accepted in uploads, in pixels
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,59}$")


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset: uint8 images ``(N, H, W)`` and int labels ``(N,)``.

    Attributes:
        name: the name every page shows and selects it by.
        x_train, y_train, x_test, y_test: the two splits.
        class_names: one display name per class index.
        source: a sentence saying where it came from (shown on /data).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def num_classes(self) -> int:
        """Number of classes (the model's output width)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return tuple(self.x_train.shape[1:3])  # type: ignore[return-value]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The model input shape, channels last: (H, W, 1)."""
        height, width = self.image_shape
        return (height, width, 1)

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of ``"train"`` or ``"test"``."""
        if which == "train":
            return self.x_train, self.y_train
        if which == "test":
            return self.x_test, self.y_test
        raise UserError(f"Unknown split {which!r}: choose 'train' or 'test'.")
