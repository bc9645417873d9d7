"""Browser journey: open /evaluate for a trained model, see the matrix, click a cell, see images."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcore.datasets import base, catalog, prepare
from dashcore.evaluation import metrics, runner
from dashcore.models import registry
from dashcore.models.builder import build_model
from dashcore.models.presets import get_preset
from dashcore.settings import Settings, get_settings
from tests.helpers.harness import wait_for_app

pytestmark = pytest.mark.e2e
MODEL_NAME = "e2e evaluate dense"


@pytest.fixture(scope="module")
def trained_entry(app_home: Path) -> registry.ModelEntry:
    """A Dense 64 fitted for one epoch on 500 MNIST images, saved in the app's registry."""
    import keras

    keras.utils.set_random_seed(2)
    mnist = catalog.load_mnist()
    model = build_model(get_preset("Dense 64"), get_settings().limits.max_params)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(prepare.scale_images(mnist.x_train[:500]), prepare.one_hot(mnist.y_train[:500], 10),
              epochs=1, verbose=0)
    return registry.save_model(model, {"name": MODEL_NAME, "dataset": base.MNIST},
                               Settings(home=app_home))


def choose_model(page, entry: registry.ModelEntry) -> None:
    """Pick our model in the Model select box unless it is already the default."""
    box = page.get_by_test_id("stSelectbox").filter(has_text="Model").first
    if MODEL_NAME in box.inner_text():
        return
    box.click()
    page.get_by_role("option", name=f"{MODEL_NAME}  ({entry.model_id})").click()
    wait_for_app(page)


def test_clicking_a_confusion_matrix_cell_shows_that_pairs_images(
        page, app_url: str, trained_entry: registry.ModelEntry, settings) -> None:
    result = runner.evaluate_model(trained_entry.path, base.MNIST, "test", settings=settings)
    pair = metrics.most_confused(result.matrix, result.predictions.class_names, top=1)[0]

    page.goto(f"{app_url}/evaluate")
    wait_for_app(page)
    choose_model(page, trained_entry)
    chart = page.get_by_test_id("stPlotlyChart").first
    plot_area = chart.locator("g.draglayer rect.nsewdrag").first
    plot_area.wait_for()
    page.get_by_text(f"{result.accuracy:.2%}").first.wait_for()  # matrix of *our* model
    assert page.locator(".st-key-eval_drilldown").count() == 0

    box = plot_area.bounding_box()
    assert box is not None
    size = result.matrix.shape[0]
    page.mouse.click(box["x"] + box["width"] * (pair.pred + 0.5) / size,
                     box["y"] + box["height"] * (pair.true + 0.5) / size)

    page.get_by_text(f"True {pair.true}, predicted {pair.pred}: {pair.count:,} images").wait_for()
    gallery = page.locator(".st-key-eval_drilldown img")
    gallery.first.wait_for()
    assert gallery.count() == min(pair.count, 30)
    first = metrics.cell_examples(result.predictions, pair.true, pair.pred, limit=1)[0]
    assert page.locator(".st-key-eval_drilldown").get_by_text(
        f"#{first.index} · p={first.probability:.1%}").count() == 1
