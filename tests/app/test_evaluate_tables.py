"""/evaluate with models trained on tables: a regression's scatter and R² against the mean
baseline; a binary model's ROC curve and a threshold that changes the confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashcore.evaluation import tables as table_evaluation
from dashcore.models import registry
from dashcore.models.presets import get_preset
from dashcore.settings import get_settings
from dashcore.tables.importing import TableOptions, import_table
from dashcore.training.config import TrainConfig
from dashcore.training.pipeline import train_in_process
from tests.helpers.datasets import churn_csv, houses_csv
from tests.helpers.pages import open_page


@pytest.fixture(autouse=True)
def no_builtin_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "no-builtin"
    monkeypatch.setattr(registry, "builtin_paths",
                        lambda: (missing / "m.keras", missing / "m.json"))
    table_evaluation._cache.clear()


def trained(csv: bytes, target: str, loss: str, epochs: int) -> str:
    settings = get_settings()
    name = target
    import_table(name, csv, TableOptions(target=target), settings)
    outcome = train_in_process(TrainConfig(
        dataset=f"upload:{name}", architecture=get_preset("Dense 64").to_dict(), loss=loss,
        epochs=epochs, batch_size=16), settings=settings, name=f"{target} model")
    return outcome.model_id


def charts(app) -> dict[str, dict]:
    return {chart.key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}


def test_a_regression_shows_r2_against_the_mean_and_its_scatter() -> None:
    trained(houses_csv(200), "price", "mse", 40)
    app = open_page("evaluate")
    figures = charts(app)
    assert {"eval_table_scatter", "eval_table_residuals"} <= set(figures)
    assert figures["eval_table_scatter"]["layout"]["xaxis"]["title"]["text"] == "actual price"
    r2 = next(m for m in app.metric if m.label == "R²")
    assert float(r2.value) > 0.8 and "vs mean" in r2.delta
    worst = next(df.value for df in app.dataframe if "predicted" in df.value.columns)
    assert {"area", "city", "price", "error"} <= set(worst.columns) and len(worst) == 20


def test_a_binary_model_has_a_roc_curve_and_the_threshold_moves_the_matrix() -> None:
    trained(churn_csv(200), "churned", "binary_crossentropy", 15)
    app = open_page("evaluate")
    figures = charts(app)
    assert "AUC" in figures["eval_table_roc"]["layout"]["title"]["text"]
    def recall() -> float:
        return float(next(m for m in app.metric if m.label == "Recall").value.rstrip("%"))

    before, recall_before = figures["eval_table_matrix"]["data"][0]["z"], recall()
    app.slider(key="eval_threshold").set_value(0.99).run()
    assert charts(app)["eval_table_matrix"]["data"][0]["z"] != before
    assert charts(app)["eval_table_matrix"]["layout"]["title"]["text"] == "At threshold 0.99"
    assert recall() < recall_before  # a stricter threshold calls fewer rows positive
