"""Collecting a dataset photo by photo (the webcam on /data), the Teachable Machine way:
name your classes, take photos into each, watch the counts grow, save it as a dataset.

A :class:`Collection` is held by the page (in the person's session) until it is saved; each
photo is decoded at once to the chosen size and colour (bounded like any upload, see
:mod:`dashcore.datasets.images`), so a session holds small arrays, not camera JPEGs.
Saving splits each class (stratified, seeded) and stores it like an uploaded dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dashcore.access.auth import User, authorize
from dashcore.datasets.base import MAX_CLASSES, Dataset, check_class_name
from dashcore.datasets.image_folders import MIN_PER_CLASS, ImportOptions, assemble
from dashcore.datasets.images import check_target, decode_image
from dashcore.datasets.saved import check_new_name, store_dataset
from dashcore.errors import UserError
from dashcore.settings import Limits, Settings, limit_setting


@dataclass
class Collection:
    """Classes and their photos so far, decoded to ``side``×``side`` in ``colour``.

    Example:
        >>> c = Collection(side=32, colour="rgb")
        >>> c.add_class("thumbs up")
        'thumbs up'
    """

    side: int = 32
    colour: str = "rgb"
    photos: dict[str, list[np.ndarray]] = field(default_factory=dict)  # class → images

    def __post_init__(self) -> None:
        self.channels = check_target(self.side, self.colour)

    def add_class(self, name: str) -> str:
        """Add an empty class; returns its cleaned name."""
        clean = check_class_name(name)
        if clean in self.photos:
            raise UserError(f"There is already a class named {clean!r}: pick it to add photos.")
        if len(self.photos) >= MAX_CLASSES:
            raise UserError(f"A dataset can have at most {MAX_CLASSES} classes.")
        self.photos[clean] = []
        return clean

    def add_photo(self, class_name: str, data: bytes, limits: Limits) -> np.ndarray:
        """Decode one photo (JPEG/PNG bytes) into ``class_name``; returns the decoded image."""
        if class_name not in self.photos:
            raise UserError(f"There is no class {class_name!r}: add it first.")
        if self.total >= limits.dataset_images:
            raise UserError(f"The collection has {self.total:,} photos, the limit: save it "
                            f"or remove some. {limit_setting('dataset_images')}")
        image = decode_image(data, self.side, self.channels, limits.image_pixels)
        self.photos[class_name].append(image)
        return image

    def remove_last(self, class_name: str) -> None:
        """Drop the latest photo of a class (a blurred or wrong one)."""
        if self.photos.get(class_name):
            self.photos[class_name].pop()

    @property
    def total(self) -> int:
        """Photos in all classes."""
        return sum(len(images) for images in self.photos.values())

    def counts(self) -> list[dict[str, object]]:
        """One row per class, in the order the classes were added."""
        return [{"class": name, "photos": len(images)} for name, images in self.photos.items()]

    def to_dataset(self, name: str, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
        """Split each class (seeded) into a dataset; refuses a collection that cannot train."""
        ready = [n for n, images in self.photos.items() if len(images) >= MIN_PER_CLASS]
        if len(ready) < 2:
            raise UserError(f"Take at least {MIN_PER_CLASS} photos in each of at least two "
                            f"classes first (now: {self._counts_text()}).")
        short = [n for n, images in self.photos.items() if len(images) < MIN_PER_CLASS]
        if short:
            raise UserError(f"Class {short[0]!r} has {len(self.photos[short[0]])} photo(s); "
                            f"each class needs at least {MIN_PER_CLASS} (one to train, one to "
                            "test). Take more photos or remove the class.")
        options = ImportOptions(side=self.side, colour=self.colour,
                                test_fraction=test_fraction, seed=seed)
        options.check()
        images = {("all", label): list(photos) for label, photos in self.photos.items()}
        dataset = assemble(images, False, options, name, [])
        kind = "colour" if self.channels == 3 else "grey"
        return Dataset(name=dataset.name, x_train=dataset.x_train, y_train=dataset.y_train,
                       x_test=dataset.x_test, y_test=dataset.y_test,
                       class_names=dataset.class_names,
                       source=f"Photos taken with a webcam ({self.side}×{self.side} {kind}).")

    def _counts_text(self) -> str:
        return ", ".join(f"{n} {len(i)}" for n, i in self.photos.items()) or "no classes"


def save_collection(collection: Collection, name: str, settings: Settings,
                    user: User | None = None, test_fraction: float = 0.2,
                    seed: int = 0) -> Dataset:
    """Store a collection as ``upload:<name>`` with its owner; nothing is written on refusal.

    Raises:
        PermissionDenied: ``user`` may not upload.
        UserError: a bad or taken name, or too few photos to train and test.
    """
    authorize(user, "upload")
    clean, _target = check_new_name(name, settings)
    return store_dataset(collection.to_dataset(clean, test_fraction, seed), clean, settings,
                         user)
