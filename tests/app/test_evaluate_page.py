"""/evaluate in AppTest: the matrix renders, a cell drill-down shows images, errors explain."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashcore.datasets import base, catalog, prepare
from dashcore.evaluation import metrics, runner, splits
from dashcore.models import registry
from dashcore.models.builder import build_model
from dashcore.models.presets import get_preset
from dashcore.settings import get_settings
from tests.helpers.pages import open_page

CELL_PICKER = "Or pick a cell: true → predicted"


@pytest.fixture(autouse=True)
def no_builtin_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the models a test saves are listed (the packaged default is hidden)."""
    missing = tmp_path / "no-builtin"
    monkeypatch.setattr(registry, "builtin_paths",
                        lambda: (missing / "m.keras", missing / "m.json"))
    runner.clear_cache()


def save_tiny_model(classes: int = 10, train: bool = True) -> registry.ModelEntry:
    """A Dense 64 fitted for one epoch on 300 MNIST images (about a second)."""
    import keras

    keras.utils.set_random_seed(1)
    model = build_model(get_preset("Dense 64").with_data((28, 28, 1), classes),
                        max_params=get_settings().limits.max_params)
    if train:
        mnist = catalog.load_mnist()
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(prepare.scale_images(mnist.x_train[:300]),
                  prepare.one_hot(mnist.y_train[:300], classes), epochs=1, verbose=0)
    return registry.save_model(model, {"name": "tiny dense", "dataset": base.MNIST},
                               settings=get_settings())


def open_evaluate() -> AppTest:
    app = open_page("evaluate", check=False)
    assert not app.exception, app.exception
    return app


def test_without_models_the_page_says_how_to_get_one() -> None:
    app = open_evaluate()
    assert any("no saved model" in info.value for info in app.info)


def test_the_confusion_matrix_and_headline_numbers_render_for_a_saved_model(settings) -> None:
    entry = save_tiny_model()
    app = open_evaluate()
    result = runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Accuracy"] == f"{result.accuracy:.2%}"
    assert metrics["Images"] == "10,000"
    charts = app.get("plotly_chart")
    heatmaps = [c for c in charts if '"type":"heatmap"' in c.proto.spec.replace(" ", "")]
    assert heatmaps, "no confusion-matrix heatmap on the page"
    assert any("read as" in b.label for b in app.button), "no most-confused pairs listed"


def test_picking_a_cell_shows_its_images_most_confident_first(settings) -> None:
    entry = save_tiny_model()
    app = open_evaluate()
    result = runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings)
    pair = metrics.most_confused(result.matrix, result.predictions.class_names, top=1)[0]
    galleries_before = len(app.image)  # the mistakes and first-20 tabs
    app.selectbox(key=f"eval_cell|{entry.model_id}|{base.MNIST}|test").select(
        (pair.true, pair.pred)).run()
    assert not app.exception, app.exception
    assert any(f"True {pair.true}, predicted {pair.pred}: {pair.count:,} images" in s.value
               for s in app.subheader)
    expected = metrics.cell_examples(result.predictions, pair.true, pair.pred, limit=30)
    galleries = app.image
    assert len(galleries) == galleries_before + 1
    captions = galleries[0].captions  # first tab: the drill-down
    assert captions[0] == f"#{expected[0].index} · p={expected[0].probability:.1%}"
    assert len(captions) == min(pair.count, 30)


def test_a_most_confused_button_opens_that_cell(settings) -> None:
    entry = save_tiny_model()
    app = open_evaluate()
    result = runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings)
    pair = metrics.most_confused(result.matrix, result.predictions.class_names, top=1)[0]
    next(b for b in app.button if b.label == pair.text).click().run()
    assert any(f"True {pair.true}, predicted {pair.pred}" in s.value for s in app.subheader)


def test_a_model_with_the_wrong_number_of_classes_gets_a_message_naming_both() -> None:
    save_tiny_model(classes=2, train=False)
    app = open_evaluate()
    assert any("outputs 2 classes but MNIST has 10" in e.value for e in app.error)


def test_row_normalised_view_labels_cells_as_shares_of_the_true_class() -> None:
    save_tiny_model()
    app = open_evaluate()
    app.radio(key="eval_view").set_value("row-normalised").run()
    spec = app.get("plotly_chart")[0].proto.spec
    assert "share of row" in spec and "%" in spec


def test_comparing_two_models_shows_accuracy_delta_and_the_difference_matrix(settings) -> None:
    first = save_tiny_model()
    second = save_tiny_model(train=False)  # an untrained model: clearly worse
    app = open_evaluate()
    app.selectbox(key="eval_model").select(first.model_id).run()
    app.selectbox(key="eval_compare").select(second.model_id).run()
    assert not app.exception, app.exception
    a = runner.evaluate_model(first.path, base.MNIST, "test", settings=settings)
    b = runner.evaluate_model(second.path, base.MNIST, "test", settings=settings)
    metrics = {m.label: m for m in app.metric}
    b_metric = metrics["B: tiny dense"]
    assert b_metric.value == f"{b.accuracy:.2%}"
    assert b_metric.proto.delta == f"{b.accuracy - a.accuracy:+.2%}"
    assert any("B − A" in c.value for c in app.caption)
    assert len(app.get("plotly_chart")) == 4  # matrix, per class, confidence, difference


def test_your_drawings_appear_as_a_split_once_saved_and_are_scored(settings) -> None:
    from dashcore.datasets import drawings

    save_tiny_model()
    mnist = catalog.load_mnist()
    for image, label in zip(mnist.x_test[:2], mnist.y_test[:2], strict=True):
        drawings.save_drawing(image, int(label), settings=settings)
    app = open_evaluate()
    assert splits.DRAWINGS_SPLIT in app.radio(key="eval_split").options
    app.radio(key="eval_split").set_value(splits.DRAWINGS_SPLIT).run()
    assert not app.exception, app.exception
    assert {m.label: m.value for m in app.metric}["Images"] == "2"


def test_a_model_trained_on_drawn_shapes_opens_on_the_held_out_drawings_with_names(
        settings) -> None:
    import json

    import numpy as np

    from dashcore.datasets import drawings

    for i in range(4):
        for name in ("circle", "square", "triangle"):
            drawings.save_drawing(np.full((28, 28), 40 * i + len(name), np.uint8), name,
                                  settings=settings)
    model = build_model(get_preset("Dense 64").with_data((28, 28, 1), 3),
                        max_params=settings.limits.max_params)
    registry.save_model(model, {"name": "shapes", "dataset": base.DRAWINGS, "num_classes": 3,
                                "class_names": ["circle", "square", "triangle"]}, settings=settings)
    app = open_evaluate()
    assert app.radio(key="eval_split").value == splits.DRAWINGS_SPLIT
    assert not app.error
    assert {m.label: m.value for m in app.metric}["Images"] == "3"  # one held out per class
    matrix = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert matrix["layout"]["xaxis"]["ticktext"] == ["circle", "square", "triangle"]
