"""SavedModel and TFLite exports: each one predicts what the Keras model predicts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets.catalog import load_mnist
from dashcore.errors import UserError
from dashcore.models import export_formats as ef
from dashcore.models import registry
from dashcore.models.export_usage import phone_snippet, python_snippet
from dashcore.settings import get_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained() -> object:
    """A tiny CNN fitted for a few steps on 512 MNIST images (so top-1s are not ties)."""
    import keras

    keras.utils.set_random_seed(3)
    data = load_mnist()
    x = data.x_train[:512, :, :, None].astype("float32") / 255.0
    y = keras.utils.to_categorical(data.y_train[:512], 10)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    return model


@pytest.fixture
def entry(trained, settings) -> registry.ModelEntry:
    return registry.save_model(trained, {"name": "tiny cnn", "dataset": "MNIST",
                                         "input_shape": [28, 28, 1], "num_classes": 10},
                               settings)


def _test_images(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    data = load_mnist()
    return data.x_test[:n, :, :, None].astype("float32") / 255.0, data.y_test[:n]


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_a_float_export_agrees_with_keras_on_every_test_image(trained, fmt, tmp_path) -> None:
    x, y = _test_images()
    check = ef.convert_and_check(trained, fmt, tmp_path / f"m{ef.FORMATS[fmt][1]}", x, y)
    assert check.ok, check.problem
    assert check.images == 100 and check.top1_agree == 100
    assert check.max_prob_diff <= ef.TOLERANCE[fmt]
    assert check.size_bytes == (tmp_path / f"m{ef.FORMATS[fmt][1]}").stat().st_size > 0


def test_the_quantised_tflite_is_smaller_and_reports_its_test_accuracy(trained, tmp_path) -> None:
    x, y = _test_images()
    float_check = ef.convert_and_check(trained, "tflite", tmp_path / "f.tflite", x, y)
    check = ef.convert_and_check(trained, "tflite_quant", tmp_path / "q.tflite", x, y)
    assert check.ok, check.problem
    assert check.accuracy_images == 300 and check.accuracy is not None
    keras_acc = float((np.asarray(trained(x)).argmax(1) == y).mean())
    assert check.keras_accuracy == pytest.approx(keras_acc)
    assert abs(check.accuracy - keras_acc) <= ef.QUANT_MAX_DROP
    assert check.size_bytes < float_check.size_bytes
    assert "test accuracy" in check.sentence()


def test_a_downloaded_tflite_loads_in_the_interpreter_and_predicts_like_keras(
        entry, trained, tmp_path) -> None:
    import tensorflow as tf

    settings = get_settings()
    check = ef.prepare(entry, "tflite", settings)  # in the separate converter process
    assert check.ok, check.problem
    assert "MNIST test images" in check.sentence()
    target = tmp_path / "downloaded.tflite"
    target.write_bytes(ef.export_bytes(entry, "tflite", settings))
    interpreter = tf.lite.Interpreter(model_path=str(target))  # what the snippet says
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x, _ = _test_images(1)
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), np.asarray(trained(x)),
                               atol=ef.TOLERANCE["tflite"])
    # the second request is served from the cache, not converted again
    assert ef.prepare(entry, "tflite", settings).path == check.path


def test_a_savedmodel_download_unzips_and_serves(entry, trained, tmp_path) -> None:
    import tensorflow as tf

    settings = get_settings()
    check = ef.export_entry(entry, "savedmodel", settings)
    assert check.ok, check.problem
    archive = tmp_path / "model.zip"
    archive.write_bytes(ef.export_bytes(entry, "savedmodel", settings))
    shutil.unpack_archive(str(archive), tmp_path / "out", "zip")
    loaded = tf.saved_model.load(str(tmp_path / "out" / "savedmodel"))
    x, _ = _test_images(4)
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), np.asarray(trained(x)),
                               atol=ef.TOLERANCE["savedmodel"])


def test_a_replaced_model_file_is_converted_again(entry, trained) -> None:
    import os

    settings = get_settings()
    first = ef.export_entry(entry, "tflite", settings)
    assert ef.cached(entry, "tflite", settings) is not None
    stat = entry.path.stat()
    os.utime(entry.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert ef.cached(entry, "tflite", settings) is None
    second = ef.export_entry(entry, "tflite", settings)
    assert second.path != first.path and not Path(first.path).exists()


def test_an_export_that_was_not_prepared_is_not_handed_out(entry) -> None:
    with pytest.raises(UserError, match="press its Prepare button"):
        ef.export_bytes(entry, "tflite", get_settings())
    with pytest.raises(UserError, match="not offered"):
        ef.cached(entry, "onnx-or-whatever", get_settings())


def test_a_disagreeing_export_is_refused_with_its_numbers(trained, tmp_path, monkeypatch
                                                          ) -> None:
    x, y = _test_images(100)
    real = ef.tflite_probs
    monkeypatch.setattr(ef, "tflite_probs", lambda content, images: real(content, images)[::-1])
    check = ef.convert_and_check(trained, "tflite", tmp_path / "bad.tflite", x, y)
    assert not check.ok and "disagrees" in check.problem
    assert not (tmp_path / "bad.tflite").exists()


def test_snippets_say_how_to_preprocess_and_which_file_to_load(entry) -> None:
    code = python_snippet("tflite", "tiny_cnn.tflite", entry.card)
    assert 'model_path="tiny_cnn.tflite"' in code and "/ 255.0" in code
    assert "reshape(1, 28, 28, 1)" in code
    compile(code, "<snippet>", "exec")  # it is valid Python
    assert "tf.saved_model.load" in python_snippet("savedmodel", "m.zip", entry.card)
    kotlin = phone_snippet("tiny_cnn.tflite", entry.card)
    assert "FloatArray(10)" in kotlin and "/ 255f" in kotlin


def test_deleting_a_model_removes_its_exports(entry) -> None:
    settings = get_settings()
    ef.export_entry(entry, "tflite", settings)
    assert ef.export_folder(entry, settings).is_dir()
    registry.delete_model(entry.model_id, settings=settings)
    assert not ef.export_folder(entry, settings).exists()
