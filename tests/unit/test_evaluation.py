"""Evaluation numbers a user reads off /evaluate: checked by hand, by scikit-learn, by Keras."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from dashcore.charts import evaluation as charts
from dashcore.datasets import base, catalog, prepare
from dashcore.errors import UserError
from dashcore.evaluation import metrics, runner, splits
from dashcore.models import registry
from dashcore.models.builder import build_model
from dashcore.models.presets import get_preset
from dashcore.models.specs import ModelSpec
from dashcore.settings import Settings, get_settings

# A 3-class example small enough to count by hand. Confusion matrix (rows true):
#   [[2, 1, 0],
#    [0, 2, 0],
#    [1, 0, 3]]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 1, 0, 1, 1, 2, 0, 2, 2])
NAMES = ("0", "1", "2")


def one_hot_probs(y_pred: np.ndarray, k: int, confidence: np.ndarray) -> np.ndarray:
    """Probabilities whose arg-max is ``y_pred`` with the given confidence."""
    probs = np.tile(((1 - confidence) / (k - 1))[:, None], (1, k)).astype(np.float32)
    probs[np.arange(len(y_pred)), y_pred] = confidence
    return probs


def test_confusion_matrix_counts_true_rows_against_predicted_columns() -> None:
    matrix = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 3]]


def test_row_normalised_matrix_gives_shares_of_each_true_class_and_zero_for_empty_rows() -> None:
    shares = metrics.row_normalise(np.array([[2, 1, 0], [0, 0, 0], [1, 0, 3]]))
    np.testing.assert_allclose(shares, [[2 / 3, 1 / 3, 0], [0, 0, 0], [0.25, 0, 0.75]])


def test_per_class_metrics_match_hand_computed_values_with_both_averages() -> None:
    table = metrics.per_class_metrics(metrics.confusion_matrix(Y_TRUE, Y_PRED, 3), NAMES)
    precision = [2 / 3, 2 / 3, 1.0]
    recall = [2 / 3, 1.0, 3 / 4]
    f1 = [2 / 3, 0.8, 6 / 7]
    support = [3, 2, 4]
    for row, p, r, f, s in zip(table.rows, precision, recall, f1, support, strict=True):
        assert (row.precision, row.recall, row.f1, row.support) == pytest.approx((p, r, f, s))
    assert table.macro.f1 == pytest.approx(sum(f1) / 3)
    assert table.macro.precision == pytest.approx(sum(precision) / 3)
    assert table.weighted.f1 == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 4 * 6 / 7) / 9)
    assert table.weighted.recall == pytest.approx(7 / 9)  # weighted recall is accuracy
    assert [r["class"] for r in table.as_records()][-2:] == ["macro avg", "weighted avg"]


def test_a_class_absent_from_the_split_does_not_drag_the_macro_average_down() -> None:
    matrix = metrics.confusion_matrix(Y_TRUE, Y_PRED, 4)  # class 3: no label, no prediction
    table = metrics.per_class_metrics(matrix, ("0", "1", "2", "3"))
    assert table.rows[3].support == 0 and table.rows[3].f1 == 0.0
    assert table.macro.f1 == pytest.approx((2 / 3 + 0.8 + 6 / 7) / 3)


def test_most_confused_pairs_read_as_sentences_largest_first() -> None:
    y_true = np.array([4] * 23 + [7] * 5 + [3])
    y_pred = np.array([9] * 23 + [1] * 5 + [5])
    pairs = metrics.most_confused(metrics.confusion_matrix(y_true, y_pred, 10),
                                     [str(d) for d in range(10)], top=2)
    assert [p.text for p in pairs] == ["4 read as 9: 23 times", "7 read as 1: 5 times"]
    single = metrics.most_confused(metrics.confusion_matrix(y_true, y_pred, 10),
                                      [str(d) for d in range(10)])
    assert single[-1].text == "3 read as 5: 1 time"


def test_loss_and_accuracy_from_probabilities_by_hand() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.25, 0.25]])
    loss, accuracy = metrics.loss_and_accuracy(np.array([0, 1, 2]), probs)
    assert loss == pytest.approx(-(math.log(0.7) + math.log(0.8) + math.log(0.25)) / 3)
    assert accuracy == pytest.approx(2 / 3)


def test_mistakes_and_cell_drilldown_list_the_most_confident_first_with_probability() -> None:
    confidence = np.array([0.9, 0.6, 0.8, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9])
    preds = metrics.Predictions(Y_TRUE, one_hot_probs(Y_PRED, 3, confidence), NAMES)
    wrong = metrics.mistakes(preds)
    assert [(e.index, e.true, e.pred) for e in wrong] == [(6, 2, 0), (1, 0, 1)]
    assert wrong[0].probability == pytest.approx(0.95)
    cell = metrics.cell_examples(preds, 0, 0)
    assert [e.index for e in cell] == [0, 2]  # 0.9 before 0.8
    assert metrics.cell_examples(preds, 1, 0) == []
    with pytest.raises(UserError, match="outside the 3×3 matrix"):
        metrics.cell_examples(preds, 3, 0)
    first = metrics.first_examples(preds, 20)
    assert [(e.true, e.pred) for e in first] == list(zip(Y_TRUE, Y_PRED, strict=True))


def test_confidence_histogram_separates_right_from_wrong() -> None:
    confidence = np.array([0.92, 0.55, 0.97, 0.91, 0.99, 0.93, 0.96, 0.94, 0.95])
    preds = metrics.Predictions(Y_TRUE, one_hot_probs(Y_PRED, 3, confidence), NAMES)
    hist = metrics.confidence_histogram(preds, bins=10)
    assert hist.right.sum() == 7 and hist.wrong.sum() == 2
    assert hist.wrong[5] == 1 and hist.wrong[9] == 1  # 0.55 and 0.96
    assert hist.right[9] == 7


def test_compare_reports_accuracy_and_per_class_deltas_and_matrix_difference() -> None:
    a = runner.evaluate_predictions(metrics.Predictions(
        Y_TRUE, one_hot_probs(Y_PRED, 3, np.full(9, 0.9)), NAMES))
    better = Y_PRED.copy()
    better[[1, 6]] = [0, 2]  # B fixes both of A's mistakes ...
    better[3] = 2  # ... and makes a new one
    b = runner.evaluate_predictions(metrics.Predictions(
        Y_TRUE, one_hot_probs(better, 3, np.full(9, 0.9)), NAMES))
    diff = metrics.compare(a, b)
    assert diff.accuracy_a == pytest.approx(7 / 9) and diff.accuracy_b == pytest.approx(8 / 9)
    assert diff.accuracy_delta == pytest.approx(1 / 9)
    assert (diff.fixed, diff.broken) == (2, 1)
    assert diff.matrix_diff.tolist() == [[1, -1, 0], [0, -1, 1], [-1, 0, 1]]
    assert diff.rows[1]["Δ recall"] == pytest.approx(-0.5)
    other = runner.evaluate_predictions(metrics.Predictions(
        Y_TRUE[:5], one_hot_probs(Y_PRED[:5], 3, np.full(5, 0.9)), NAMES))
    with pytest.raises(UserError, match="same dataset and split"):
        metrics.compare(a, other)


def test_a_heatmap_click_on_the_cell_layer_becomes_a_true_predicted_pair() -> None:
    fig = charts.confusion_figure(np.array([[2, 1], [0, 3]]), ("a", "b"))
    cells = fig.data[charts.CELL_TRACE]
    assert len(cells.x) == 4  # one click target per cell
    # As Streamlit returns a click: customdata arrives as an object, x/y as numbers.
    click = {"points": [{"curve_number": charts.CELL_TRACE, "x": 1, "y": 0, "point_index": 1,
                         "customdata": {"0": 0, "1": 1, "2": 1, "3": 33.3}}]}
    assert charts.cell_from_selection(click) == (0, 1)
    assert charts.cell_from_selection({"points": []}) is None
    assert charts.cell_from_selection({"points": [{"curve_number": 0, "x": 1, "y": 1}]}) is None


# ---------------------------------------------------------------- with a real model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A Dense 64 trained for one epoch on 500 MNIST images, saved in a module registry."""
    import keras

    keras.utils.set_random_seed(0)
    settings = Settings(home=tmp_path_factory.mktemp("eval_home"))
    mnist = catalog.load_mnist()
    model = build_model(get_preset("Dense 64"), get_settings().limits.max_params)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = prepare.scale_images(mnist.x_train[:500])
    model.fit(x, prepare.one_hot(mnist.y_train[:500], 10), epochs=1, batch_size=32, verbose=0)
    entry = registry.save_model(model, {"name": "tiny dense", "dataset": base.MNIST}, settings)
    return model, entry, settings


def test_metrics_on_a_real_model_agree_with_scikit_learn(trained, settings) -> None:
    from sklearn import metrics as skm

    _, entry, _ = trained
    result = runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings)
    y_true, y_pred = result.predictions.y_true, result.predictions.y_pred
    assert result.size == 10_000
    np.testing.assert_array_equal(result.matrix, skm.confusion_matrix(y_true, y_pred))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    table = result.metrics
    np.testing.assert_allclose([row.precision for row in table.rows], p)
    np.testing.assert_allclose([row.recall for row in table.rows], r)
    np.testing.assert_allclose([row.f1 for row in table.rows], f)
    assert [row.support for row in table.rows] == s.tolist()
    for average, ours in (("macro", table.macro), ("weighted", table.weighted)):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average,
                                                         zero_division=0)
        assert (ours.precision, ours.recall, ours.f1) == pytest.approx((p, r, f), abs=1e-12)
    assert result.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert 0.5 < result.accuracy < 1.0  # really trained, and really imperfect


def test_accuracy_and_loss_equal_what_model_evaluate_reports(trained, settings) -> None:
    model, entry, _ = trained
    mnist = catalog.load_mnist()
    keras_loss, keras_accuracy = model.evaluate(
        prepare.scale_images(mnist.x_test), prepare.one_hot(mnist.y_test, 10), batch_size=256,
        verbose=0)
    result = runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings)
    assert result.accuracy == pytest.approx(keras_accuracy, abs=1e-5)
    assert result.loss == pytest.approx(keras_loss, abs=1e-5)


def test_loss_still_equals_model_evaluate_when_the_model_is_overconfident(trained,
                                                                          settings) -> None:
    """Keras takes a softmax's loss from its logits: clipping at 1e-7 would be ~3e-3 off here."""
    import keras

    model, _, settings = trained
    sharp = keras.models.clone_model(model)
    weights = model.get_weights()
    sharp.set_weights([*weights[:-2], weights[-2] * 6, weights[-1] * 6])  # logits × 6
    sharp.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    mnist = catalog.load_mnist()
    keras_loss, _ = sharp.evaluate(prepare.scale_images(mnist.x_test),
                                   prepare.one_hot(mnist.y_test, 10), batch_size=256, verbose=0)
    result = runner.evaluate_model(_save(sharp, "sharp", settings), base.MNIST, "test",
                                   settings=settings)
    assert result.predictions.probs[np.arange(10_000), result.predictions.y_true].min() < 1e-7
    assert result.loss == pytest.approx(keras_loss, abs=1e-5)


def test_predictions_are_cached_per_model_file_and_recomputed_when_it_changes(trained,
                                                                              settings) -> None:
    model, entry, settings = trained
    first = runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings)
    assert runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings) is first
    assert runner.evaluate_model(entry.path, base.MNIST, "train", settings=settings) is not first
    time.sleep(0.01)  # a distinct modification time, not a timing assertion
    registry.save_model(model, entry.card, settings, model_id=entry.model_id)
    assert runner.evaluate_model(entry.path, base.MNIST, "test", settings=settings) is not first


def _save(model, name: str, settings: Settings) -> Path:
    return registry.save_model(model, {"name": name}, settings).path


def test_a_colour_32x32_model_is_refused_naming_both_shapes(tmp_path: Path, settings) -> None:
    spec = get_preset("Dense 64").with_data((32, 32, 3), 10)
    path = _save(build_model(spec, settings.limits.max_params), "cifar-like",
                 Settings(home=tmp_path))
    with pytest.raises(UserError) as info:
        runner.evaluate_model(path, base.MNIST, "test", settings=settings)
    assert "32×32×3" in str(info.value) and "28×28" in str(info.value)


def test_a_two_class_model_is_refused_naming_both_class_counts(tmp_path: Path, settings) -> None:
    path = _save(build_model(get_preset("Dense 64").with_data((28, 28, 1), 2),
                             max_params=settings.limits.max_params), "binary",
                 Settings(home=tmp_path))
    with pytest.raises(UserError, match=r"outputs 2 classes but MNIST has 10"):
        runner.evaluate_model(path, base.MNIST, "test", settings=settings)


def test_a_flat_784_input_model_is_fed_flattened_images(tmp_path: Path, settings) -> None:
    spec = ModelSpec(input_shape=(784,), layers=[
        {"type": "Dense", "units": 10, "activation": "softmax"}])
    path = _save(build_model(spec, settings.limits.max_params), "flat", Settings(home=tmp_path))
    result = runner.evaluate_model(path, base.MNIST, "test", settings=settings)
    assert result.size == 10_000 and result.matrix.sum() == 10_000


def test_your_drawings_without_any_drawings_says_where_to_make_them() -> None:
    with pytest.raises(UserError, match="/draw"):
        splits.split_arrays(base.MNIST, splits.DRAWINGS_SPLIT, get_settings())


def test_your_drawings_are_scored_once_some_are_saved(tmp_path: Path, settings) -> None:
    from dashcore.datasets import drawings

    assert not splits.drawings_available(settings)
    mnist = catalog.load_mnist()
    for image, label in zip(mnist.x_test[:3], mnist.y_test[:3], strict=True):
        drawings.save_drawing(image, int(label), settings=settings)
    assert splits.drawings_available(settings)
    spec = ModelSpec(input_shape=(784,), layers=[
        {"type": "Dense", "units": 10, "activation": "softmax"}])
    path = _save(build_model(spec, settings.limits.max_params), "flat",
                 Settings(home=tmp_path / "models-home"))
    result = runner.evaluate_model(path, base.MNIST, splits.DRAWINGS_SPLIT, settings=settings)
    assert result.size == 3
    assert result.predictions.y_true.tolist() == mnist.y_test[:3].tolist()


def test_an_empty_split_is_refused_with_the_split_to_use_instead(settings) -> None:
    from dashcore.datasets import drawings

    drawings.save_drawing(catalog.load_mnist().x_test[0], 7,
                          settings=settings)  # drawings have a test split only
    with pytest.raises(UserError, match="no images: evaluate on the test split"):
        splits.split_arrays(base.DRAWINGS, "train", get_settings())


def test_a_model_is_scored_on_the_dataset_of_the_settings_it_is_given_not_the_environments(
        tmp_path: Path, dashcore_home: Path) -> None:
    """Two data folders hold an upload of the same name with different test splits: the
    one in the settings handed to the evaluation is the one scored (the environment's
    DASHCORE_HOME points at the other)."""
    from dashcore.datasets import uploads
    from tests.helpers.datasets import arrays, npz

    given = Settings(home=tmp_path / "given-home")
    uploads.save_uploaded_dataset("shared", npz(), settings=Settings(home=dashcore_home))
    given_test = arrays(n_test=21)
    uploads.save_uploaded_dataset("shared", npz(x_test=given_test["x_test"],
                                                y_test=given_test["y_test"]), settings=given)
    spec = ModelSpec(input_shape=(28, 28, 1), num_classes=3, layers=[
        {"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax"}])
    path = _save(build_model(spec, get_settings().limits.max_params), "tiny", given)
    result = runner.evaluate_model(path, f"{base.UPLOAD_PREFIX}shared", "test", settings=given)
    assert result.size == 21  # the given folder's 21 test images, not the environment's 12
