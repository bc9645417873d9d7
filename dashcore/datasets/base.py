"""The :class:`Dataset` type every loader returns, and the names of the built-in sets.

Kept apart from the loaders so that the drawings and uploads modules can build datasets
without importing the catalogue that lists them (no import loop).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dashcore.errors import UserError

if TYPE_CHECKING:  # pandas stays unloaded until a table is used
    from dashcore.tables.schema import TableInfo

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
MAX_CLASS_NAME = 40  # characters in a class name a person types or a folder carries
CHANNELS = (1, 3)  # grey or RGB


def check_class_name(name: object) -> str:
    """A class name a person typed (or a folder's name), stripped; else a :class:`UserError`.

    Class names are shown to other people, so they are plain one-line text: 1–40
    characters, no control, format (bidirectional overrides, zero-width) or line-break
    characters. Everything else (letters in any script, symbols, punctuation) is allowed
    and shown literally.
    """
    if not isinstance(name, str):
        raise UserError(f"Class name {name!r} is not text: type a name such as 'circle'.")
    clean = name.strip()
    if not 1 <= len(clean) <= MAX_CLASS_NAME:
        raise UserError(f"A class name needs 1 to {MAX_CLASS_NAME} characters; got "
                        f"{len(clean)}. Use a short name such as 'circle'.")
    bad = [ch for ch in clean if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp")]
    if bad:
        raise UserError(f"Class name {clean!r} contains an invisible or control character "
                        f"(U+{ord(bad[0]):04X}); use letters, digits, spaces and symbols only.")
    return clean


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset: uint8 images and int labels ``(N,)``; or a table.

    Grey images are ``(N, H, W)``; colour images are ``(N, H, W, 3)`` (RGB, channels last).
    A table (``table`` set, see :mod:`dashcore.tables`) has encoded float32 rows ``(N, F)``
    and int labels, or float32 targets for regression (then ``class_names`` is empty).

    Attributes:
        name: the name every page shows and selects it by.
        x_train, y_train, x_test, y_test: the two splits.
        class_names: one display name per class index.
        source: a sentence saying where it came from (shown on /data).
        table: a table's target, task, columns, encoder and raw rows; None for images.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False)
    table: TableInfo | None = field(default=None, compare=False)

    @property
    def is_table(self) -> bool:
        """True for a dataset made from a CSV table."""
        return self.table is not None

    @property
    def num_classes(self) -> int:
        """Number of classes (the model's output width)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return tuple(self.x_train.shape[1:3])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        """1 for grey images, 3 for colour (RGB)."""
        return int(self.x_train.shape[3]) if self.x_train.ndim == 4 else 1

    @property
    def colour(self) -> bool:
        """True for RGB images."""
        return self.channels == 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The model input shape, channels last: (H, W, C); ``(F,)`` for a table."""
        if self.table is not None:
            return (int(self.x_train.shape[1]),)  # type: ignore[return-value]
        height, width = self.image_shape
        return (height, width, self.channels)

    def describe_images(self) -> str:
        """The image format in words, e.g. ``32×32 colour (RGB)``."""
        height, width = self.image_shape
        return f"{height}×{width} " + ("colour (RGB)" if self.colour else "grey")

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of ``"train"`` or ``"test"``."""
        if which == "train":
            return self.x_train, self.y_train
        if which == "test":
            return self.x_test, self.y_test
        raise UserError(f"Unknown split {which!r}: choose 'train' or 'test'.")
