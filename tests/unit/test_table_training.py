"""Training on a table: Dense presets read vectors, the task picks the output, loss and
metrics, a regression speaks the target's units, and image-only options are refused."""

from __future__ import annotations

import pytest

from dashcore.charts.training import live_figure
from dashcore.errors import UserError
from dashcore.models.presets import get_preset
from dashcore.settings import Settings
from dashcore.tables.importing import TableOptions, import_table
from dashcore.training.config import TrainConfig
from dashcore.training.data import describe_job
from dashcore.training.pipeline import train_in_process
from tests.helpers.datasets import churn_csv, houses_csv

pytestmark = pytest.mark.backends  # CI runs it on JAX without TensorFlow too


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(home=tmp_path)
    import_table("houses", houses_csv(200), TableOptions(target="price"), settings)
    import_table("churn", churn_csv(200), TableOptions(target="churned"), settings)
    return settings


def config(dataset: str, loss: str, preset: str = "Dense 64", **more) -> TrainConfig:
    return TrainConfig(dataset=dataset, architecture=get_preset(preset).to_dict(), loss=loss,
                       epochs=more.pop("epochs", 40), batch_size=16, **more)


def test_a_regression_learns_in_the_targets_units(settings: Settings) -> None:
    described = describe_job(config("upload:houses", "mse"), settings)
    assert described["input_shape"] == (5,) and described["num_classes"] == 1
    outcome = train_in_process(config("upload:houses", "mse"), settings=settings)
    assert outcome.status == "completed" and outcome.test_accuracy is None
    card = outcome.card
    assert card["task"] == "regression" and card["table"]["target"] == "price"
    assert card["spec"]["layers"][-1] == {"type": "Dense", "units": 1, "activation": "linear"}
    # prices are ~100,000s: a model stuck at standardised units would be off by ~the mean
    spread = card["table"]["target_std"]
    assert outcome.test_metrics["rmse"] < 0.5 * spread
    assert set(outcome.final_metrics) >= {"mae", "rmse", "val_mae", "val_rmse"}


def test_binary_classes_train_with_a_sigmoid_or_the_tutorials_two_unit_softmax(
        settings: Settings) -> None:
    sigmoid = train_in_process(config("upload:churn", "binary_crossentropy", epochs=15),
                               settings=settings)
    softmax = train_in_process(config("upload:churn", "categorical_crossentropy",
                                      "MLP 128-64 dropout", epochs=15), settings=settings)
    assert sigmoid.card["spec"]["layers"][-1]["activation"] == "sigmoid"
    assert softmax.card["spec"]["layers"][-1] == {"type": "Dense", "units": 2,
                                                  "activation": "softmax"}
    for outcome in (sigmoid, softmax):
        assert outcome.test_accuracy > 0.8 and "auc" in outcome.test_metrics
        assert outcome.card["class_names"] == ["no", "yes"]


def test_a_loss_of_another_task_or_an_image_option_is_refused(settings: Settings) -> None:
    with pytest.raises(UserError, match="does not suit regression"):
        describe_job(config("upload:houses", "categorical_crossentropy"), settings)
    with pytest.raises(UserError, match="light augmentation only applies to images"):
        describe_job(config("upload:churn", "binary_crossentropy", augment=True), settings)
    with pytest.raises(UserError, match="is for tables"):
        describe_job(TrainConfig(loss="mae"), settings)


def test_live_charts_show_the_metrics_of_the_task() -> None:
    regression = live_figure([], [{"epoch": 1, "loss": 2.0, "mae": 1.0, "rmse": 1.5}])
    titles = [a["text"] for a in regression.to_dict()["layout"]["annotations"]]
    assert titles == ["Loss", "Mean absolute error", "RMSE"]
    binary = live_figure([], [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "auc": 0.9}])
    assert [a["text"] for a in binary.to_dict()["layout"]["annotations"]] == [
        "Loss", "Accuracy", "AUC"]
    images = live_figure([], [])
    assert [a["text"] for a in images.to_dict()["layout"]["annotations"]] == ["Loss", "Accuracy"]


def test_a_sweep_of_a_regression_on_accuracy_is_refused_in_a_sentence(
        settings: Settings) -> None:
    pytest.importorskip("optuna")
    from dashcore.sweeps.space import SweepPlan
    from dashcore.sweeps.study import work_per_run

    base = config("upload:houses", "mse", epochs=2).to_dict()
    plan = SweepPlan(name="prices", base=base, vary={"learning_rate": {"low": 1e-4,
                                                                       "high": 1e-2}})
    with pytest.raises(UserError, match="regression table: it has no accuracy"):
        work_per_run(plan, settings)
    plan.metric = "val_loss"
    assert work_per_run(plan, settings) > 0
