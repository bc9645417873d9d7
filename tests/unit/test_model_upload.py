"""Uploading model files: what plain Keras saves is accepted and predicts; the bad ones are
refused with their own message, and nothing reaches the registry.

Most refusals happen in the archive inspection, before any checker process starts; only
the tests that need a real load (accept, regression output, limits) spawn one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets.catalog import load_mnist
from dashcore.inference.predictor import clear_cache, get_predictor
from dashcore.models import registry
from dashcore.models.archive_check import UploadRefused, check_filename, check_io_shapes
from dashcore.models.upload import import_model
from dashcore.settings import get_settings
from tests.helpers.datasets import make_zip


def _hostile_config(obj: dict) -> bytes:
    """A .keras whose config hides ``obj`` inside an otherwise ordinary Sequential."""
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "s", "layers": [obj]}}
    return make_zip({"config.json": json.dumps(config).encode(), "metadata.json": b"{}"})


def _assert_nothing_written() -> None:
    settings = get_settings()
    assert registry.list_models(settings, include_builtin=False) == []
    models = settings.models_dir
    assert not models.exists() or list(models.iterdir()) == []
    quarantine = settings.uploads_dir / "quarantine"
    assert not quarantine.exists() or list(quarantine.iterdir()) == []


def _refused(data: bytes, filename: str) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        import_model(data, filename, settings=get_settings())
    _assert_nothing_written()
    return caught.value


# ---------------------------------------------------------------- accepted


def test_a_tutorial_cnn_saved_by_plain_keras_is_added_and_predicts_like_the_original(
        files: dict[str, Path], settings) -> None:
    import keras

    entry = import_model(files["tutorial_cnn.keras"].read_bytes(), "tutorial_cnn.keras",
                         owner="ada", settings=settings)
    card = registry.read_card(entry.model_id, settings=settings)
    assert card["source"] == "uploaded" and card["original_filename"] == "tutorial_cnn.keras"
    assert card["input_shape"] == [28, 28, 1] and card["num_classes"] == 10
    assert card["params"] == 34_826 and card["owner"] == "ada" and card["created"]
    assert [e.model_id for e in registry.list_models(include_builtin=False,
                                                     settings=settings)] == [entry.model_id]

    images = load_mnist().x_test[:8]
    clear_cache()
    probs = get_predictor(registry.get_entry(entry.model_id,
                                             settings=settings).path).predict_many(images)
    original = keras.saving.load_model(files["tutorial_cnn.keras"], compile=False)
    expected = np.asarray(original(images[..., None].astype("float32") / 255.0))
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    one = get_predictor(entry.path).predict_one(images[0])
    assert one.shape == (10,) and abs(float(one.sum()) - 1.0) < 1e-4


def test_a_legacy_h5_file_is_converted_and_predicts_like_the_original(
        files: dict[str, Path], settings) -> None:
    import keras

    entry = import_model(files["tiny.h5"].read_bytes(), "tiny.h5", name="My h5 model",
                         settings=settings)
    assert entry.path.suffix == ".keras" and entry.card["format"] == "h5"
    assert registry.read_card(entry.model_id, settings=settings)["name"] == "My h5 model"
    images = load_mnist().x_test[:4]
    original = keras.saving.load_model(files["tiny.h5"], compile=False)
    expected = np.asarray(original(images[..., None].astype("float32") / 255.0))
    clear_cache()
    np.testing.assert_allclose(get_predictor(entry.path).predict_many(images), expected,
                               atol=1e-6)
    from dashcore.evaluation.runner import evaluate_model

    scored = evaluate_model(entry.path, "MNIST", "test", settings=settings)  # what /evaluate runs
    assert 0.0 <= scored.accuracy <= 1.0 and scored.matrix.shape == (10, 10)


# ---------------------------------------------------------------- refused before loading


@pytest.mark.parametrize(("filename", "data", "code", "words"), [
    ("random.keras", bytes(range(256)) * 8, "not_a_model", "not a Keras model"),
    ("empty.keras", b"", "empty", "is empty"),
    ("../../evil.keras", b"PK\x03\x04whatever", "bad_name", "folder path"),
    ("..\\evil.h5", b"\x89HDF\r\n\x1a\n", "bad_name", "folder path"),
    ("notes.txt", b"hello", "extension", "'.keras' or legacy '.h5'"),
    ("model", b"PK\x03\x04", "extension", "no extension"),
    ("archive.keras", make_zip({"readme.md": b"hi"}), "not_a_model", "no config.json"),
    ("get_file.keras", _hostile_config({"module": "keras.utils", "class_name": "get_file",
                                        "config": {"origin": "http://x"}}),
     "custom_object", "'get_file'"),
    ("fn.keras", _hostile_config({"module": "builtins", "class_name": "function",
                                  "config": "exec"}), "custom_object", "function 'exec'"),
    ("tfsm.keras", _hostile_config({"module": "keras.layers", "class_name": "TFSMLayer",
                                    "config": {"name": "x", "filepath": "/etc"}}),
     "custom_object", "'TFSMLayer'"),
    ("outside.keras", make_zip({"../config.json": b"{}"}), "not_a_model", "outside"),
    ("bomb.keras", make_zip({"config.json": b" " * (17 << 20)}), "not_a_model", "zip bomb"),
], ids=["random-bytes", "empty", "path-traversal", "windows-traversal", "txt", "no-extension",
        "zip-without-config", "keras-utils-get_file", "builtins-exec", "TFSMLayer",
        "zip-slip", "config-zip-bomb"])
def test_a_bad_file_is_refused_with_its_own_message(filename: str, data: bytes, code: str,
                                                    words: str) -> None:
    refused = _refused(data, filename)
    assert refused.code == code
    assert words in str(refused)


def test_a_truncated_keras_file_is_called_truncated(files: dict[str, Path]) -> None:
    data = files["tutorial_cnn.keras"].read_bytes()
    refused = _refused(data[: len(data) // 2], "tutorial_cnn.keras")
    assert refused.code == "truncated" and "truncated" in str(refused)


def test_a_truncated_h5_file_is_called_truncated(files: dict[str, Path]) -> None:
    data = files["tiny.h5"].read_bytes()
    refused = _refused(data[:4000], "tiny.h5")
    assert refused.code == "truncated" and "truncated" in str(refused)


@pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])
def test_a_lambda_layer_is_refused_because_it_runs_code(files: dict[str, Path],
                                                        name: str) -> None:
    refused = _refused(files[name].read_bytes(), name)
    assert refused.code == "lambda"
    assert "Lambda layer" in str(refused) and "arbitrary code execution" in str(refused)


@pytest.mark.parametrize("name", ["custom.keras", "custom.h5"])
def test_a_custom_layer_is_refused_and_named(files: dict[str, Path], name: str) -> None:
    refused = _refused(files[name].read_bytes(), name)
    assert refused.code == "custom_object"
    assert "Doubler" in str(refused) and "arbitrary code execution" in str(refused)


def test_a_colour_input_model_is_refused_before_loading(files: dict[str, Path]) -> None:
    refused = _refused(files["rgb.keras"].read_bytes(), "rgb.keras")
    assert refused.code == "shapes"
    assert "32×32×3" in str(refused) and "3 channels" in str(refused)


def test_a_weights_only_file_asks_for_the_whole_model(files: dict[str, Path]) -> None:
    refused = _refused(files["weights.h5"].read_bytes(), "weights.h5")
    assert refused.code == "weights_only" and "model.save(" in str(refused)


def test_a_file_over_the_upload_limit_is_refused_before_it_is_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_UPLOAD_MB", "1")
    refused = _refused(b"PK\x03\x04" + b"\0" * (2 << 20), "huge.keras")
    assert refused.code == "too_large" and "over the 1 MB upload limit" in str(refused)


# ---------------------------------------------------------------- refused by the checker


def test_a_regression_model_with_one_output_is_refused(files: dict[str, Path]) -> None:
    refused = _refused(files["regression.keras"].read_bytes(), "regression.keras")
    assert refused.code == "shapes" and "Regression (1 unit)" in str(refused)


def test_a_checker_that_runs_past_its_time_limit_is_stopped(files: dict[str, Path],
                                                            settings) -> None:
    with pytest.raises(UploadRefused) as caught:
        import_model(files["tiny.h5"].read_bytes(), "tiny.h5", timeout_s=0.5, settings=settings)
    assert caught.value.code == "timeout" and "longer than" in str(caught.value)
    _assert_nothing_written()


def test_a_checker_that_runs_out_of_memory_is_reported(files: dict[str, Path], settings) -> None:
    with pytest.raises(UploadRefused) as caught:
        import_model(files["tiny.h5"].read_bytes(), "tiny.h5", memory_mb=600, settings=settings)
    assert caught.value.code == "crashed" and "memory" in str(caught.value)
    _assert_nothing_written()


def test_quarantine_leftovers_from_a_crashed_server_are_swept() -> None:
    import os

    leftover = get_settings().uploads_dir / "quarantine" / "dead-server"
    leftover.mkdir(parents=True)
    (leftover / "upload.keras").write_bytes(b"PK\x03\x04")
    os.utime(leftover, (0, 0))
    _refused(b"PK\x03\x04 but not a zip", "x.keras")  # any upload that gets as far as writing
    assert not leftover.exists()


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(("shape", "side"), [
    ([28, 28, 1], (28, 28)), ([28, 28], (28, 28)), ([784], (28, 28)),
    ([None, None, 1], (28, 28)), ([16, 16, 1], (16, 16)),
])
def test_grey_image_inputs_are_accepted(shape: list, side: tuple[int, int]) -> None:
    assert check_io_shapes(shape, [10]) == side


@pytest.mark.parametrize(("shape", "out"), [
    ([32, 32, 3], [10]), ([785], [10]), ([28, 28, 1, 1], [10]), ([4, 4, 1], [10]),
    ([28, 28, 1], [1]), ([28, 28, 1], [28, 28]),
])
def test_unusable_shapes_are_refused(shape: list, out: list) -> None:
    with pytest.raises(UploadRefused, match="shape"):
        check_io_shapes(shape, out)


def test_only_plain_file_names_with_a_model_extension_pass() -> None:
    assert check_filename("model.KERAS") == ".keras"
    assert check_filename("old.hdf5") == ".h5"
    for bad in ("../../evil.keras", "/etc/passwd.h5", ".hidden.keras", "a/b.keras"):
        with pytest.raises(UploadRefused):
            check_filename(bad)
