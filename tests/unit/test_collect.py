"""Collecting photos into named classes and saving them as a dataset."""

from __future__ import annotations

import pytest

from dashcore.datasets import catalog, collect
from dashcore.errors import UserError
from dashcore.settings import get_settings
from tests.helpers.datasets import picture


def collection_with(counts: dict[str, int]) -> collect.Collection:
    limits = get_settings().limits
    c = collect.Collection(side=16, colour="rgb")
    for k, (name, count) in enumerate(counts.items()):
        c.add_class(name)
        for i in range(count):
            c.add_photo(name, picture(fmt="JPEG", size=(64, 48), seed=k * 50 + i), limits)
    return c


def test_photos_into_two_classes_save_as_a_split_colour_dataset() -> None:
    c = collection_with({"thumbs up": 5, "thumbs down": 5})
    assert c.counts() == [{"class": "thumbs up", "photos": 5},
                          {"class": "thumbs down", "photos": 5}]
    settings = get_settings().ensure_dirs()
    dataset = collect.save_collection(c, "hands", settings)
    loaded = catalog.load_dataset("upload:hands", settings)
    assert loaded.class_names == ("thumbs down", "thumbs up")
    assert loaded.input_shape == (16, 16, 3)
    assert len(loaded.y_train) == 8 and len(loaded.y_test) == 2
    assert dataset.name == "upload:hands"


def test_a_class_with_one_photo_is_refused_and_nothing_is_written(settings) -> None:
    c = collection_with({"a": 3, "b": 3, "c": 1})
    with pytest.raises(UserError, match="Class 'c' has 1 photo"):
        collect.save_collection(c, "x", get_settings().ensure_dirs())
    assert catalog.list_datasets(settings)[-1] == "Fashion-MNIST"


def test_class_names_are_checked_and_unique() -> None:
    c = collect.Collection()
    c.add_class(" left ")
    with pytest.raises(UserError, match="already a class named 'left'"):
        c.add_class("left")
    with pytest.raises(UserError, match="control character"):
        c.add_class("up\ndown")


def test_a_photo_that_is_not_an_image_is_refused_with_its_reason() -> None:
    c = collect.Collection()
    c.add_class("left")
    with pytest.raises(UserError, match="not a readable image"):
        c.add_photo("left", b"hello", get_settings().limits)
    assert c.total == 0


def test_fewer_than_two_classes_with_photos_say_what_to_take() -> None:
    c = collection_with({"a": 3, "b": 1})
    with pytest.raises(UserError, match=r"at least two classes first \(now: a 3, b 1\)"):
        c.to_dataset("x")
