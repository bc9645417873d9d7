"""Browser journey: stop a run after its first epoch, continue it for one more, and see one
unbroken two-epoch curve; then export its model as TFLite, download the file and run it with
``tf.lite.Interpreter``: it answers as the Keras model does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from dashcore.datasets.catalog import load_mnist
from dashcore.store.runs import COMPLETED
from tests.helpers.harness import wait_for_app
from tests.helpers.journeys import (
    CURVE,
    SLOW,
    fill,
    press_train,
    stop_then_continue_one_epoch,
)

pytestmark = pytest.mark.e2e


def test_a_stopped_run_continues_without_a_gap_and_its_tflite_runs_like_keras(
        app_url: str, app_home: Path, app_store, page, no_stray_workers,
        tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    store = app_store
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=SLOW)
    page.locator(".st-key-train_arch input").click()
    page.get_by_role("option", name="Dense 64", exact=True).click()
    fill(page, "train_epochs", "20")  # all 54,000 images: an epoch takes seconds here
    fill(page, "train_batch", "32")
    press_train(page, store)
    status = page.locator(".st-key-run_status")
    expect(status.filter(has_text="running").first).to_be_visible(timeout=SLOW)

    # Stop in epoch 2 (once the first epoch's point is on the chart), then continue it, as
    # the same run, for one more epoch.
    run_id, whole = stop_then_continue_one_epoch(page, store)
    xs = sorted(page.evaluate(CURVE)["batch"])
    assert xs[-1] == pytest.approx(whole + 1)
    assert max(b - a for a, b in zip(xs, xs[1:], strict=False)) < 0.5  # and no gap in batches
    final = store.get_run(run_id)
    assert final.status == COMPLETED and final.summary["parts"][0]["status"] == "stopped"
    model_id = final.summary["model_id"]

    # Export it as TFLite on /models, download it, and run it.
    page.goto(f"{app_url}/models")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible(timeout=SLOW)
    card = page.locator(f".st-key-model-{model_id}")
    card.get_by_text("Export: SavedModel, TFLite").click()
    card.locator(f".st-key-prepare-tflite-{model_id} button").click()
    download_button = card.locator(f".st-key-dl-tflite-{model_id} button")
    expect(download_button).to_be_visible(timeout=SLOW * 2)
    expect(card).to_contain_text("same top-1 as the Keras model on 100 of 100")
    with page.expect_download() as download:
        download_button.click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.suffix == ".tflite"

    interpreter = tf.lite.Interpreter(model_path=str(target))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x = load_mnist().x_test[:1].astype("float32").reshape(1, 28, 28, 1) / 255.0
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    keras_model = keras.saving.load_model(str(app_home / "models" / f"{model_id}.keras"))
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), keras_model(x),
                               atol=1e-4)
