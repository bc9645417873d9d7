"""/models: the Export panel converts on request, shows the check, and code to use the file."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashcore.errors import UserError
from dashcore.models import export_formats, registry
from dashcore.settings import get_settings
from tests.helpers import REPO_ROOT

PAGE = str(REPO_ROOT / "views" / "models.py")
pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(settings) -> registry.ModelEntry:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    return registry.save_model(model, {"name": "Seed dense", "dataset": "MNIST",
                                       "input_shape": [28, 28, 1], "num_classes": 10},
                               settings)


def test_nothing_is_converted_until_prepare_is_pressed(seeded) -> None:
    app = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not app.exception, app.exception
    assert app.button(key=f"prepare-tflite-{seeded.model_id}")
    assert export_formats.cached(seeded, "tflite", get_settings()) is None


def test_prepare_tflite_shows_the_check_and_how_to_use_it(seeded) -> None:
    app = AppTest.from_file(PAGE, default_timeout=180).run()
    app.button(key=f"prepare-tflite-{seeded.model_id}").click().run()
    assert not app.exception, app.exception
    captions = "\n".join(c.value for c in app.caption)
    assert "Checked on MNIST test images: the same top-1 as the Keras model on 100 of 100" \
        in captions
    code = "\n".join(c.value for c in app.code)
    assert 'tf.lite.Interpreter(model_path="Seed_dense.tflite")' in code
    assert "Interpreter(FileUtil.loadMappedFile" in code  # the phone snippet
    assert export_formats.cached(seeded, "tflite", get_settings()).ok


def test_without_tensorflow_the_panel_says_so_instead_of_offering_prepare(
        seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_formats, "tensorflow_installed", lambda: False)
    app = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not app.exception, app.exception
    assert not [b for b in app.button if b.key == f"prepare-tflite-{seeded.model_id}"]
    captions = "\n".join(c.value for c in app.caption)
    assert "TFLite (float32) export needs TensorFlow, which is not installed on this " \
        "server" in captions
    with pytest.raises(UserError, match="SavedModel export needs TensorFlow"):
        export_formats.prepare(seeded, "savedmodel", get_settings())
