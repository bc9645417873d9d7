"""A zip of class folders becomes a dataset: layouts, formats, resizing, splits, problem lines."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dashcore.access.auth import User
from dashcore.datasets import catalog, image_folders, uploads, zip_import
from dashcore.datasets.image_folders import ImportOptions
from dashcore.datasets.images import decode_image
from dashcore.errors import UserError
from dashcore.settings import get_settings
from tests.helpers.datasets import COLOURS, make_zip, picture, shapes_zip


def read(data: bytes, **options: object) -> image_folders.ImportReport:
    return image_folders.read_class_folders(data, "test", ImportOptions(**options),
                                            get_settings().limits)


def test_three_colour_classes_become_a_stratified_colour_dataset() -> None:
    report = read(shapes_zip(per_class=5))
    ds = report.dataset
    assert ds.class_names == ("circle", "square", "triangle")
    assert ds.x_train.shape == (12, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    assert report.counts() == [{"class": n, "train": 4, "test": 1} for n in ds.class_names]
    assert report.problems == []
    # colour kept: the circle class is red, the triangle class blue
    red = ds.x_train[ds.y_train == 0].reshape(-1, 3).mean(axis=0)
    blue = ds.x_train[ds.y_train == 2].reshape(-1, 3).mean(axis=0)
    assert red[0] > red[2] and blue[2] > blue[0]


def test_grey_mode_gives_grey_images_of_the_chosen_size() -> None:
    ds = read(shapes_zip(), side=28, colour="grey").dataset
    assert ds.x_train.shape[1:] == (28, 28) and ds.input_shape == (28, 28, 1)


def test_aspect_is_kept_and_the_rest_padded_black() -> None:
    image = decode_image(picture((255, 255, 255), size=(40, 20)), 32, 3, 10**6)
    assert image.shape == (32, 32, 3)
    assert image[:8].max() == 0 and image[-8:].max() == 0  # bars above and below
    assert image[9:23].min() > 200  # the picture, scaled to 32×16, centred


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_every_offered_format_decodes(fmt: str) -> None:
    image = decode_image(picture((30, 200, 40), fmt=fmt), 28, 3, 10**6)
    assert image.shape == (28, 28, 3) and image[14, 14, 1] > 150


def test_transparent_pixels_become_black() -> None:
    rgba = Image.new("RGBA", (16, 16), (255, 255, 255, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    assert decode_image(buffer.getvalue(), 16, 1, 10**6).max() == 0


def test_train_and_test_folders_are_used_as_the_split() -> None:
    files = {}
    for s, (split, count) in enumerate((("train", 4), ("test", 2))):
        for c, name in enumerate(("cat", "dog")):
            for i in range(count):  # distinct seeds: equal pictures would be duplicates
                files[f"pets/{split}/{name}/{i}.png"] = picture(seed=100 * s + 10 * c + i)
    report = read(make_zip(files))
    assert report.presplit
    assert report.counts() == [{"class": "cat", "train": 4, "test": 2},
                               {"class": "dog", "train": 4, "test": 2}]


def test_an_enclosing_folder_and_system_clutter_are_looked_through() -> None:
    files = {f"shapes/{name}/{i}.png": picture(colour, seed=i + 10 * c)
             for c, (name, colour) in enumerate(COLOURS.items()) for i in range(2)}
    files["__MACOSX/shapes/circle/._0.png"] = b"resource fork"
    files["shapes/.DS_Store"] = b"finder"
    data = make_zip(files)
    report = read(data)
    assert report.dataset.class_names == tuple(COLOURS) and report.problems == []


def test_bad_files_get_one_line_each_and_the_rest_is_imported() -> None:
    files = {f"{name}/{i}.png": picture(colour, seed=i + 10 * c)
             for c, (name, colour) in enumerate(COLOURS.items()) for i in range(3)}
    files["circle/notes.txt"] = b"not a picture"
    files["circle/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    files["square/copy.png"] = files["square/0.png"]
    files["square/tiny.png"] = picture(size=(4, 4))
    files["lonely/only.png"] = picture((9, 9, 9))
    files["loose.png"] = picture((1, 2, 3))
    report = read(make_zip(files))
    lines = "\n".join(report.problems)
    assert "circle/notes.txt: not an image" in lines
    assert "circle/broken.png: " in lines and ("corrupt" in lines or "not a readable" in lines)
    assert "square/copy.png: the same file as square/0.png" in lines
    assert "square/tiny.png: too small (4×4)" in lines
    assert "lonely/: only 1 usable image" in lines
    assert "loose.png: not inside a class folder" in lines
    assert len(report.problems) == 6
    assert report.dataset.class_names == tuple(COLOURS)
    assert len(report.dataset.y_train) + len(report.dataset.y_test) == 9


def test_an_image_over_the_pixel_limit_is_refused_before_decoding() -> None:
    files = {f"{name}/{i}.png": picture(colour, seed=i + 10 * c)
             for c, (name, colour) in enumerate(COLOURS.items()) for i in range(2)}
    files["circle/huge.png"] = picture(size=(200, 100))
    limits = get_settings().limits
    report = image_folders.read_class_folders(
        make_zip(files), "t", ImportOptions(),
        type(limits)(**{**limits.__dict__, "image_pixels": 10_000}))
    assert report.problems == ["circle/huge.png: is 200×100 (0.0 megapixels); images up to "
                               "0.01 megapixels are accepted, skipped"]


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    data = shapes_zip(per_class=10)
    first, again, other = (read(data, seed=s).dataset for s in (1, 1, 2))
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


def test_an_import_is_stored_with_its_class_names_and_owner() -> None:
    settings = get_settings().ensure_dirs()
    report = zip_import.import_zip("shapes", shapes_zip(), ImportOptions(side=28),
                                      settings, user=User("ann"))
    assert report.dataset.name == "upload:shapes"
    assert "upload:shapes" in catalog.list_datasets(settings)
    loaded = catalog.load_dataset("upload:shapes", settings)
    assert loaded.class_names == tuple(COLOURS) and loaded.input_shape == (28, 28, 3)
    np.testing.assert_array_equal(loaded.x_train, report.dataset.x_train)
    assert uploads.dataset_owner("upload:shapes", settings) == "ann"


def test_an_import_over_the_owners_disk_quota_is_refused_and_nothing_is_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_USER_DISK_MB", "1")
    settings = get_settings().ensure_dirs()
    data = shapes_zip(per_class=40)  # 120 images of 64×64×3: 1.5 MB once decoded
    with pytest.raises(UserError, match="disk quota"):
        zip_import.import_zip("big", data, ImportOptions(side=64), settings,
                                 user=User("ann"))
    assert "upload:big" not in catalog.list_datasets(settings)
    assert list(settings.datasets_dir.glob("*")) == []  # no file, no temp file
