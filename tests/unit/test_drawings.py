"""Saved drawings become the labelled "Your drawings" test set."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from dashcore.datasets import drawings
from dashcore.datasets.base import DRAWINGS
from dashcore.errors import NotFoundError, UserError
from dashcore.settings import get_settings


def digit(value: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), np.float32)
    image[4:24, rng.integers(8, 20)] = value
    return image


def test_saved_drawings_load_back_as_the_test_split_of_your_drawings(settings) -> None:
    drawings.save_drawing(digit(seed=1), 1, settings=settings)
    drawings.save_drawing(digit(0.5, seed=2), 7, settings=settings)
    dataset = drawings.load_drawings(settings)
    assert dataset.name == DRAWINGS
    assert dataset.y_test.tolist() == [1, 7]
    assert dataset.x_test.shape == (2, 28, 28) and dataset.x_test.dtype == np.uint8
    assert dataset.x_test[0].max() == 255 and dataset.x_test[1].max() == 128
    assert len(dataset.x_train) == 0 and dataset.image_shape == (28, 28)
    assert dataset.class_names == tuple("0123456789")


def test_nothing_saved_yet_says_how_to_start(settings) -> None:
    assert drawings.count_drawings(settings) == 0
    with pytest.raises(NotFoundError, match="Save as example"):
        drawings.load_drawings(settings)


@pytest.mark.parametrize("label", [-1, 10, 3.0, True])  # text is a class name: see below
def test_a_label_that_is_not_a_digit_is_refused(label, settings) -> None:
    with pytest.raises(UserError, match="not a digit"):
        drawings.save_drawing(digit(), label, settings=settings)
    assert drawings.count_drawings(settings) == 0


def test_only_the_28x28_model_input_can_be_saved(settings) -> None:
    with pytest.raises(UserError, match=r"28×28.*\(280, 280\)"):
        drawings.save_drawing(np.zeros((280, 280)), 3, settings=settings)


def _canvas_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_original_canvas_is_kept_beside_the_set(settings) -> None:
    png = _canvas_png()
    saved = drawings.save_drawing(digit(), 4, canvas_png=png, settings=settings)
    stored = get_settings().drawings_dir / "canvas" / f"{saved.drawing_id}.png"
    assert stored.read_bytes() == png


def test_a_drawing_saved_with_the_wrong_label_can_be_deleted(settings) -> None:
    keep = drawings.save_drawing(digit(seed=1), 1, settings=settings)
    wrong = drawings.save_drawing(digit(seed=2), 9, settings=settings)
    drawings.delete_drawing(wrong.drawing_id, settings=settings)
    assert [d.drawing_id for d in drawings.list_drawings(settings)] == [keep.drawing_id]
    with pytest.raises(NotFoundError):
        drawings.delete_drawing(wrong.drawing_id, settings=settings)


def test_sessions_saving_at_the_same_moment_all_keep_their_drawing(settings) -> None:
    errors: list[BaseException] = []

    def session(i: int) -> None:
        try:
            for j in range(4):
                drawings.save_drawing(digit(seed=i * 10 + j), i, settings=get_settings())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(drawings.load_drawings(settings).y_test.tolist()) == sorted(list(range(6)) * 4)


def test_evaluate_finds_the_drawings_once_one_is_saved(settings) -> None:
    from dashcore.evaluation import splits

    assert not splits.drawings_available(settings)
    drawings.save_drawing(digit(), 1, settings=settings)
    assert splits.drawings_available(settings)


def test_data_pages_list_and_load_your_drawings_once_one_is_saved(settings) -> None:
    from dashcore.datasets import catalog

    assert DRAWINGS not in catalog.list_datasets(settings)
    drawings.save_drawing(digit(), 2, settings=settings)
    assert catalog.list_datasets(settings)[-1] == DRAWINGS
    assert catalog.load_dataset(DRAWINGS, settings=settings).y_test.tolist() == [2]


def test_classes_of_your_own_are_saved_by_name_and_split_for_training(settings) -> None:
    for i in range(8):
        for c, name in enumerate(("triangle", "circle", "square")):
            drawings.save_drawing(digit(0.3 + 0.05 * c, seed=i * 3 + c), name, settings=settings)
    dataset = drawings.load_drawings(settings)
    assert dataset.class_names == ("circle", "square", "triangle")
    # every 4th drawing of each class is held out: 2 of 8
    assert np.bincount(dataset.y_test).tolist() == [2, 2, 2]
    assert np.bincount(dataset.y_train).tolist() == [6, 6, 6]
    assert drawings.class_counts(settings) == {"circle": 8, "square": 8, "triangle": 8}


def test_a_digit_typed_as_text_is_the_digit_and_the_set_stays_a_test_set(settings) -> None:
    drawings.save_drawing(digit(seed=1), "7", settings=settings)
    drawings.save_drawing(digit(seed=2), 3, settings=settings)
    dataset = drawings.load_drawings(settings)
    assert dataset.class_names == tuple(str(d) for d in range(10))
    assert sorted(dataset.y_test.tolist()) == [3, 7] and len(dataset.y_train) == 0


def test_class_names_are_kept_literally(settings) -> None:
    name = "<b>★ & 'α'</b>"
    drawings.save_drawing(digit(seed=1), name, settings=settings)
    drawings.save_drawing(digit(seed=2), "plain", settings=settings)
    assert drawings.load_drawings(settings).class_names == ("<b>★ & 'α'</b>", "plain")
    assert [d.name for d in drawings.list_drawings(settings)] == [name, "plain"]


def test_drawings_saved_before_class_names_read_as_their_digits(settings) -> None:
    path = drawings.drawings_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=np.zeros((2, 28, 28), np.uint8), labels=np.array([4, 9]),
             ids=np.array(["a", "b"]), created=np.array([1.0, 2.0]))
    assert [d.name for d in drawings.list_drawings(settings)] == ["4", "9"]
    assert drawings.load_drawings(settings).y_test.tolist() == [4, 9]
