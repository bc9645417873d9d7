"""Augmentation inside the compiled train step, on every Keras backend.

Keras's ``RandomRotation``, ``RandomZoom`` and ``RandomTranslation`` switch jit off for the
whole model on JAX (they are written for ``tf.data``). :class:`RandomAffine` does shift,
rotation, zoom and mirroring as *one* affine warp per image (one interpolation, not three)
plus a brightness change, with ``keras.ops`` and a ``keras.random.SeedGenerator``, so it
compiles with the step. It is put in front of the model only for ``fit``
(:func:`with_augmentation`): the saved model stays exactly the spec's layers.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from dashcore.training.config import TrainConfig


class RandomAffine(keras.layers.Layer):
    """Random shifts, rotations, zooms, left-right flips and brightness, while training.

    Args:
        shift: largest shift, as a fraction of the height and width (0.1: ±10%).
        rotation: largest rotation, as a fraction of a full turn (0.05: ±18°).
        zoom: largest zoom in or out, as a fraction (0.1: 90% to 110% of the size).
        flip: mirror half the images left to right (never for digits or letters).
        brightness: largest change added to every pixel, images being in [0, 1].
        fill_mode: what fills the border the warp uncovers: ``"constant"`` (black, for
            digits) or ``"reflect"`` (photos).
        seed: seeds the layer's random-number generator.

    Example:
        >>> layer = RandomAffine(shift=0.1, rotation=0.05, zoom=0.1, seed=1)
        >>> layer(images, training=True)  # doctest: +SKIP
    """

    def __init__(self, shift: float = 0.0, rotation: float = 0.0, zoom: float = 0.0,
                 flip: bool = False, brightness: float = 0.0, fill_mode: str = "constant",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shift, self.rotation, self.zoom = float(shift), float(rotation), float(zoom)
        self.flip, self.brightness = bool(flip), float(brightness)
        self.fill_mode, self.seed = fill_mode, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, n: Any, limit: float) -> Any:
        return keras.random.uniform((n,), -limit, limit, seed=self.seed_generator)

    def transforms(self, n: Any, height: int, width: int) -> Any:
        """``(n, 8)`` affine transforms (output pixel → input pixel), one per image."""
        angle = self._uniform(n, self.rotation * 2 * math.pi)
        scale = 1.0 + self._uniform(n, self.zoom)
        dx = self._uniform(n, self.shift * width)
        dy = self._uniform(n, self.shift * height)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        a0, a1 = scale * ops.cos(angle), -scale * ops.sin(angle)
        b0, b1 = scale * ops.sin(angle), scale * ops.cos(angle)
        a2 = cx - a0 * cx - a1 * cy - dx
        b2 = cy - b0 * cx - b1 * cy - dy
        if self.flip:  # read column (width - 1 - x) instead of x for half the images
            mirror = ops.where(keras.random.uniform((n,), seed=self.seed_generator) < 0.5,
                               -1.0, 1.0)
            a0, a1 = a0 * mirror, a1 * mirror
            a2 = ops.where(mirror < 0, (width - 1) - a2, a2)
        zeros = ops.zeros_like(a0)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, images: Any, training: bool = False) -> Any:
        if not training:
            return images
        n = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        images = ops.cast(images, "float32")
        if self.shift or self.rotation or self.zoom or self.flip:
            images = ops.image.affine_transform(
                images, self.transforms(n, height, width), interpolation="bilinear",
                fill_mode=self.fill_mode, fill_value=0.0, data_format="channels_last")
        if self.brightness:
            delta = self._uniform(n, self.brightness)
            images = ops.clip(images + ops.reshape(delta, (-1, 1, 1, 1)), 0.0, 1.0)
        return images

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shift": self.shift, "rotation": self.rotation,
                "zoom": self.zoom, "flip": self.flip, "brightness": self.brightness,
                "fill_mode": self.fill_mode, "seed": self.seed}


def augmentation(config: TrainConfig) -> RandomAffine | None:
    """The random transformations the configuration asks for, or None when off.

    ``augment`` (digit-safe): shifts ±10%, rotations ±5% of a turn (±18°), zooms ±10%, black
    borders. ``augment_photo``: left-right flips, rotations ±3% of a turn (±11°), zooms
    ±15% with reflected borders, and brightness ±20%. Both on: the digit-safe warp plus
    flips and brightness.
    """
    if not (config.augment or config.augment_photo):
        return None
    if config.augment:
        warp = {"shift": 0.1, "rotation": 0.05, "zoom": 0.1, "fill_mode": "constant"}
    else:
        warp = {"rotation": 0.03, "zoom": 0.15, "fill_mode": "reflect"}
    return RandomAffine(**warp, flip=config.augment_photo,
                        brightness=0.2 if config.augment_photo else 0.0,
                        seed=config.seed, name="augment", dtype="float32")


def with_augmentation(model: Any, config: TrainConfig) -> Any:
    """The model to ``fit``: ``model`` itself, or augmentation then ``model`` as one
    functional model sharing its layers (and so its weights).

    Nothing of the wrapper is saved: checkpoints and the registry keep ``model``.
    """
    layer = augmentation(config)
    if layer is None:
        return model
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), name="images")
    return keras.Model(inputs, model(layer(inputs)), name=f"{model.name}_augmented")
