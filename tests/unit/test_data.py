"""Datasets: the packaged MNIST, Fashion-MNIST offline, and every kind of bad upload.

Each bad-upload test goes through ``save_uploaded_dataset`` (what the page calls) and checks
both the message a user reads and that nothing was written to the data folder.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets import base, catalog, prepare, uploads
from dashcore.errors import NotFoundError, UserError
from dashcore.settings import get_settings
from tests.helpers.datasets import arrays, npz

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_FIRST_20_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4]



def stored_files() -> list[Path]:
    """Everything in the uploaded-datasets folder, temp files included."""
    folder = get_settings().datasets_dir
    return sorted(folder.iterdir()) if folder.exists() else []


def assert_rejected(content: bytes, *fragments: str, name: str = "mine") -> str:
    """The upload is refused with a message containing ``fragments``, and nothing is saved."""
    with pytest.raises(UserError) as caught:
        uploads.save_uploaded_dataset(name, content, settings=get_settings())
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert stored_files() == []
    assert catalog.list_datasets(get_settings()) == [base.MNIST, base.FASHION]
    return message


# ---------------------------------------------------------------- MNIST


def test_mnist_has_the_full_train_and_test_splits() -> None:
    mnist = catalog.load_mnist()
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.x_test.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    assert np.bincount(mnist.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert mnist.class_names == tuple("0123456789")
    assert mnist.input_shape == (28, 28, 1)


def test_mnist_first_twenty_test_labels_are_the_tutorials() -> None:
    assert catalog.load_mnist().y_test[:20].tolist() == MNIST_FIRST_20_TEST_LABELS


def test_mnist_is_loaded_once_and_nobody_can_modify_it(settings) -> None:
    assert catalog.load_dataset(base.MNIST, settings=settings) is catalog.load_mnist()
    with pytest.raises(ValueError):
        catalog.load_mnist().x_train[0, 0, 0] = 1


def test_only_the_built_in_datasets_are_listed_before_any_upload(settings) -> None:
    assert catalog.list_datasets(settings) == [base.MNIST, base.FASHION]


def test_an_unknown_dataset_name_lists_the_ones_that_exist(settings) -> None:
    with pytest.raises(NotFoundError, match="Unknown dataset 'CIFAR'.*MNIST, Fashion-MNIST"):
        catalog.load_dataset("CIFAR", settings=settings)


# ---------------------------------------------------------------- Fashion-MNIST


@pytest.fixture
def fresh_fashion_cache():
    """Forget any Fashion-MNIST loaded by another test, before and after."""
    catalog._load_fashion_cached.cache_clear()
    yield
    catalog._load_fashion_cached.cache_clear()


def test_fashion_offline_says_so_and_points_to_mnist(monkeypatch, fresh_fashion_cache,
                                                     settings) -> None:
    def no_network():
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(catalog, "_download_fashion", no_network)
    with pytest.raises(UserError) as caught:
        catalog.load_dataset(base.FASHION, settings=settings)
    message = str(caught.value)
    assert message.startswith("Could not download Fashion-MNIST: no network")
    assert "MNIST is available offline" in message
    assert "OSError" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no traceback


def test_fashion_online_has_clothing_class_names(monkeypatch, fresh_fashion_cache) -> None:
    small = arrays(n_train=20, n_test=10, classes=10)
    monkeypatch.setattr(catalog, "_download_fashion", lambda: (
        (small["x_train"], small["y_train"].astype(np.uint8)),
        (small["x_test"], small["y_test"].astype(np.uint8))))
    fashion = catalog.load_fashion_mnist()
    assert fashion.name == base.FASHION
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    assert fashion.y_train.dtype == np.int64


# ---------------------------------------------------------------- valid uploads


def test_a_valid_upload_is_listed_and_loads_back_unchanged(settings) -> None:
    content = arrays()
    buffer = io.BytesIO()
    np.savez(buffer, **content)
    saved = uploads.save_uploaded_dataset("my digits", buffer.getvalue(), settings=settings)
    assert saved.name == "upload:my digits"
    assert catalog.list_datasets(settings) == [base.MNIST, base.FASHION, "upload:my digits"]
    loaded = catalog.load_dataset("upload:my digits", settings=settings)
    for key in base.REQUIRED_KEYS:
        np.testing.assert_array_equal(getattr(loaded, key), content[key])
    assert loaded.class_names == ("0", "1", "2")
    assert loaded.input_shape == (28, 28, 1)
    assert [p.name for p in stored_files()] == ["my digits.npz"]


def test_channel_axis_and_float_pixels_are_accepted_and_stored_as_uint8(settings) -> None:
    content = arrays()
    floats = (content["x_train"] / 255.0)[..., np.newaxis].astype(np.float32)
    saved = uploads.save_uploaded_dataset("floats", npz(x_train=floats,
                                                     y_train=content["y_train"].astype(float)),
                                          settings)
    assert saved.x_train.shape == (30, 28, 28) and saved.x_train.dtype == np.uint8
    np.testing.assert_array_equal(saved.x_train, content["x_train"])
    assert saved.y_train.dtype == np.int64


def test_a_removed_upload_is_reported_as_gone(settings) -> None:
    uploads.save_uploaded_dataset("short lived", npz(), settings=settings)
    (get_settings().datasets_dir / "short lived.npz").unlink()
    with pytest.raises(NotFoundError, match="no longer exists"):
        catalog.load_dataset("upload:short lived", settings=settings)


def test_half_written_temp_files_are_not_listed(settings) -> None:
    folder = get_settings().ensure_dirs().datasets_dir
    (folder / ".mine.a1b2c3.npz").write_bytes(b"partial")
    assert catalog.list_datasets(settings) == [base.MNIST, base.FASHION]


# ---------------------------------------------------------------- bad uploads, one per kind


def test_a_file_that_is_not_a_zip_is_rejected() -> None:
    assert_rejected(b"x_train,y_train\n1,2\n", "not a .npz file", "numpy.savez")


def test_a_single_npy_array_is_rejected_as_not_npz() -> None:
    buffer = io.BytesIO()
    np.save(buffer, arrays()["x_train"])
    assert_rejected(buffer.getvalue(), "not a .npz file")


def test_an_empty_file_is_rejected() -> None:
    assert_rejected(b"", "empty")


def test_a_truncated_file_is_called_truncated() -> None:
    content = npz()
    assert_rejected(content[: len(content) // 2], "truncated", f"{len(content) // 2:,} bytes")


def test_a_damaged_file_is_rejected_without_a_traceback() -> None:
    content = bytearray(npz())
    content[200:220] = b"\xff" * 20  # inside x_train's data: the zip's checksum fails
    assert_rejected(bytes(content), "x_train could not be read", "damaged or truncated")


def test_missing_keys_are_named_with_the_keys_found() -> None:
    message = assert_rejected(npz(y_test=None, x_test=None), "missing x_test, y_test")
    assert "Found keys: x_train, y_train" in message


def test_images_of_the_wrong_rank_are_rejected() -> None:
    assert_rejected(npz(x_train=np.zeros((30, 784), np.uint8)),
                    "x_train has shape (30, 784)", "N×H×W")


def test_images_with_an_alpha_channel_are_rejected_with_the_fix() -> None:
    assert_rejected(npz(x_train=np.zeros((30, 28, 28, 4), np.uint8)),
                    "x_train has 4 channels", "RGB colour (N×H×W×3)")


def test_colour_images_are_accepted_and_keep_their_channels(settings) -> None:
    rng = np.random.default_rng(0)
    dataset = uploads.save_uploaded_dataset("colour", npz(
        x_train=rng.integers(0, 256, (30, 28, 28, 3), dtype=np.uint8),
        x_test=rng.integers(0, 256, (12, 28, 28, 3), dtype=np.uint8)), settings=settings)
    loaded = catalog.load_dataset(dataset.name, settings=settings)
    assert loaded.input_shape == (28, 28, 3) and loaded.colour
    np.testing.assert_array_equal(loaded.x_train, dataset.x_train)


def test_colour_and_grey_splits_do_not_mix() -> None:
    assert_rejected(npz(x_train=np.zeros((30, 28, 28, 3), np.uint8)),
                    "x_train images are 28×28×3 but x_test images are 28×28")


def test_train_and_test_images_of_different_sizes_are_rejected() -> None:
    assert_rejected(npz(x_test=np.zeros((12, 32, 32), np.uint8)),
                    "x_train images are 28×28 but x_test images are 32×32")


def test_images_too_small_are_rejected() -> None:
    assert_rejected(npz(x_train=np.zeros((30, 4, 4), np.uint8),
                        x_test=np.zeros((12, 4, 4), np.uint8)), "4×4", "from 8 to 256")


def test_empty_splits_are_rejected() -> None:
    assert_rejected(npz(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, int)),
                    "x_test is empty")


def test_pixels_outside_0_255_are_rejected() -> None:
    assert_rejected(npz(x_train=np.full((30, 28, 28), 300, np.int32)),
                    "range from 300 to 300", "expected 0–255")


def test_nan_pixels_are_rejected() -> None:
    images = np.zeros((30, 28, 28), np.float32)
    images[3, 4, 5] = np.nan
    assert_rejected(npz(x_train=images), "x_train contains NaN")


def test_mismatched_image_and_label_counts_are_rejected() -> None:
    assert_rejected(npz(y_train=np.arange(29) % 3),
                    "y_train has 29 labels but x_train has 30 images")


def test_negative_labels_are_rejected() -> None:
    labels = np.arange(30) % 3
    labels[7] = -1
    assert_rejected(npz(y_train=labels), "negative label (-1)", "start at 0")


def test_labels_beyond_the_class_limit_are_rejected() -> None:
    labels = np.arange(12) % 3
    labels[0] = base.MAX_CLASSES
    assert_rejected(npz(y_test=labels), f"y_test has label {base.MAX_CLASSES}",
                    f"at most {base.MAX_CLASSES} classes")


def test_one_hot_labels_are_rejected_with_argmax_as_the_fix() -> None:
    one_hot = np.eye(3, dtype=np.float32)[np.arange(30) % 3]
    assert_rejected(npz(y_train=one_hot), "looks one-hot encoded", "argmax(axis=1)")


def test_fractional_float_labels_are_rejected() -> None:
    assert_rejected(npz(y_train=np.linspace(0, 2, 30)), "non-integer values")


def test_nan_labels_are_rejected() -> None:
    labels = (np.arange(30) % 3).astype(float)
    labels[2] = np.nan
    assert_rejected(npz(y_train=labels), "y_train holds non-integer values")


def test_text_labels_are_rejected() -> None:
    assert_rejected(npz(y_train=np.array(list("abc") * 10)), "dtype <U1", "integers")


def test_object_arrays_are_refused_for_safety() -> None:
    ragged = np.empty(30, dtype=object)
    ragged[:] = [np.zeros(3)] * 30
    assert_rejected(npz(x_train=ragged), "x_train holds Python objects", "not allowed")


def test_a_single_class_is_rejected() -> None:
    assert_rejected(npz(y_train=np.zeros(30, int), y_test=np.zeros(12, int)),
                    "at least two classes")


def test_a_class_only_in_test_is_rejected() -> None:
    labels = np.arange(12) % 4  # class 3 appears only in test
    assert_rejected(npz(y_test=labels), "[3] appear in y_test but never in y_train")


def test_files_over_the_size_limit_are_rejected(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_UPLOAD_MB", "1")
    big = np.random.default_rng(1).integers(0, 256, (1400, 28, 28), dtype=np.uint8)  # 1.1 MB
    assert_rejected(npz(x_train=big, y_train=np.arange(1400) % 3),
                    "limited to 1 MB", "smaller subset")


def test_datasets_over_the_image_limit_are_rejected(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_DATASET_IMAGES", "40")
    assert_rejected(npz(), "42 images; the limit is 40")


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a/b"])
def test_bad_dataset_names_are_rejected(name: str) -> None:
    assert_rejected(npz(), "is not allowed", "letters, digits", name=name)


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_empty_or_long_dataset_names_are_rejected(name: str) -> None:
    assert_rejected(npz(), "A dataset name needs 1 to 60 characters", name=name)


def test_a_duplicate_name_is_rejected_and_the_first_upload_kept(settings) -> None:
    first = uploads.save_uploaded_dataset("digits", npz(), settings=settings)
    with pytest.raises(UserError, match="'digits' already exists: choose another name"):
        uploads.save_uploaded_dataset("digits", npz(x_train=arrays(seed=9)["x_train"]),
                                      settings=settings)
    assert [p.name for p in stored_files()] == ["digits.npz"]
    np.testing.assert_array_equal(catalog.load_dataset("upload:digits",
                                                       settings=settings).x_train, first.x_train)


# ---------------------------------------------------------------- preparation


def test_preparation_steps_show_mnist_shapes_before_and_after() -> None:
    steps = prepare.preparation_steps(catalog.load_mnist())
    assert [(s["before"], s["after"]) for s in steps] == [
        ("60000×28×28 uint8 (0–255)", "60000×28×28 float32 (0–1)"),
        ("60000×28×28", "60000×28×28×1"),
        ("60000 integers", "60000×10 float32"),
    ]


def test_scaling_and_one_hot_match_what_the_tutorial_feeds_keras() -> None:
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    scaled = prepare.scale_images(x)
    assert scaled.shape == (1, 2, 2, 1) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0, :, :, 0], [[0.0, 1.0], [0.2, 0.4]])
    np.testing.assert_array_equal(prepare.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_a_class_subset_is_relabelled_from_zero() -> None:
    x, y = np.arange(6), np.array([3, 8, 1, 8, 3, 5])
    kept_x, kept_y = prepare.subset_classes(x, y, [8, 3])
    assert kept_x.tolist() == [0, 1, 3, 4] and kept_y.tolist() == [0, 1, 1, 0]
    with pytest.raises(UserError, match="at least two classes"):
        prepare.subset_classes(x, y, [3])


def test_a_damaged_array_header_is_not_mistaken_for_python_objects() -> None:
    content = npz()
    start = content.index(b"{'descr'")  # x_train.npy's header, stored uncompressed
    broken = content[:start] + b"{'descr': 'zz'" + content[start + 14:]
    assert_rejected(broken, "could not be read", "damaged or truncated")
