"""Browser journey: upload a model file on /models, see it listed and download it; /draw does
not offer it (an uploaded model of unknown cost never runs in the shared web server) and says so.

The uploaded model is a plain-Keras ``.h5`` (as the tutorials save) that answers "7"
whatever it is shown, so a prediction of 1 for a drawn "1" shows /draw used the built-in model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashcore.models import registry
from dashcore.settings import Settings
from tests.helpers.harness import wait_for_app

pytestmark = pytest.mark.e2e
MODEL_NAME = "Journey always seven"


@pytest.fixture(scope="module")
def seven_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Flatten → Dense(10) model saved with model.save('x.h5') that always says 7."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    bias = np.zeros(10, dtype="float32")
    bias[7] = 6.0  # softmax ≈ 98% for class 7, for any input
    model.layers[-1].set_weights([np.zeros((784, 10), dtype="float32"), bias])
    path = tmp_path_factory.mktemp("journey") / "always_seven.h5"
    model.save(path)
    return path


def draw_a_one(page) -> None:
    """A vertical stroke down the middle of the drawing canvas (280×280 pixels)."""
    canvas = page.locator("[data-testid='stBidiComponentIsolated'] canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    x = box["x"] + 140
    page.mouse.move(x, box["y"] + 50)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x, box["y"] + 50 + step * 9)
    page.mouse.up()


def test_an_uploaded_model_is_listed_downloaded_and_kept_off_the_draw_page(
        page, app_url: str, app_home: Path, seven_h5: Path, tmp_path: Path) -> None:
    page.goto(f"{app_url}/models")
    wait_for_app(page)
    page.locator("input[type='file']").first.set_input_files(str(seven_h5))
    page.get_by_text("always_seven.h5").first.wait_for()  # the uploader holds the file
    page.get_by_label("Name (optional)").fill(MODEL_NAME)
    page.get_by_label("Name (optional)").press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Check and add").click()
    page.get_by_text(f"Added '{MODEL_NAME}'").wait_for(timeout=180_000)  # checker: ~5-40 s
    wait_for_app(page)
    assert page.get_by_role("heading", name=MODEL_NAME).count() == 1

    uploaded = [e for e in registry.list_models(Settings(home=app_home))
                if e.name == MODEL_NAME]
    assert len(uploaded) == 1 and uploaded[0].card["source"] == "uploaded"
    assert uploaded[0].card["original_filename"] == "always_seven.h5"
    assert uploaded[0].path.suffix == ".keras"

    # the legacy .h5 download is made on click and loads with plain Keras
    row = page.locator(f".st-key-model-{uploaded[0].model_id}")
    with page.expect_download(timeout=60_000) as download:
        row.get_by_role("button", name=".h5").click()
    saved = tmp_path / "downloaded.h5"
    download.value.save_as(saved)
    import keras

    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(saved)(x)),
                               np.asarray(keras.saving.load_model(seven_h5)(x)), atol=1e-6)

    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    page.get_by_text("Uploaded models are not offered for drawing").first.wait_for()
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Model").first
    picker.click()
    assert page.get_by_role("option", name=MODEL_NAME).count() == 0
    page.keyboard.press("Escape")
    wait_for_app(page)

    draw_a_one(page)  # the built-in model reads this stroke as a 1; the upload would say 7
    page.get_by_text("Prediction: 1").first.wait_for(timeout=60_000)


def test_a_model_with_a_lambda_layer_is_refused_with_the_reason(
        page, app_url: str, app_home: Path, tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2.0),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    path = tmp_path / "sneaky.keras"
    model.save(path)
    before = {e.model_id for e in registry.list_models(Settings(home=app_home))}

    page.goto(f"{app_url}/models")
    wait_for_app(page)
    page.locator("input[type='file']").first.set_input_files(str(path))
    page.get_by_text("sneaky.keras").first.wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Check and add").click()
    alert = page.get_by_test_id("stAlert").filter(has_text="Refused 'sneaky.keras'")
    alert.wait_for()
    assert "Lambda layer" in alert.inner_text()
    assert "arbitrary code execution" in alert.inner_text()
    assert {e.model_id for e in registry.list_models(Settings(home=app_home))} == before
