"""/predict: a table model answers a row typed into the form, and a CSV of new rows comes
back with a prediction column; a CSV that lacks a feature column gets a sentence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dashcore.inference.predictor import get_predictor
from dashcore.models import registry
from dashcore.models.presets import get_preset
from dashcore.settings import Limits, get_settings
from dashcore.tables import predict
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


def trained(csv: bytes, target: str, loss: str, epochs: int) -> registry.ModelEntry:
    settings = get_settings()
    import_table(target, csv, TableOptions(target=target), settings)
    outcome = train_in_process(TrainConfig(
        dataset=f"upload:{target}", architecture=get_preset("Dense 64").to_dict(), loss=loss,
        epochs=epochs, batch_size=16), settings=settings, name=f"{target} model")
    return registry.get_entry(outcome.model_id, settings)


def test_the_form_has_one_input_per_feature_and_answers_in_the_targets_units() -> None:
    trained(houses_csv(200), "price", "mse", 40)
    app = open_page("predict")
    labels = [w.label for w in (*app.number_input, *app.selectbox) if "predict_field" in
              (w.key or "")]
    assert sorted(labels) == ["area", "city", "rooms"]
    fields = {w.label: w for w in app.number_input if "predict_field" in (w.key or "")}
    fields["area"].set_value(150.0)
    fields["rooms"].set_value(3.0)
    next(w for w in app.selectbox if w.label == "city").set_value("Paris")
    next(b for b in app.button if b.label == "Predict").click().run()
    assert not app.exception, app.exception
    answer = next(s.value for s in app.success if "Predicted price" in s.value)
    price = float(answer.split(": ")[1].replace(",", ""))
    truth = 150 * 3000 + 3 * 10_000 + 50_000
    assert abs(price - truth) < 0.15 * truth


def test_a_csv_of_new_rows_comes_back_with_predictions_and_probabilities() -> None:
    entry = trained(churn_csv(200), "churned", "binary_crossentropy", 15)
    run = get_predictor(entry.path).predict_rows
    rows = b"months,plan\n2,basic\n55,pro\n"
    out = pd.read_csv(__import__("io").BytesIO(predict.predict_csv(rows, entry.card, run,
                                                                    Limits())))
    assert list(out.columns) == ["months", "plan", "predicted churned", "probability of no",
                                 "probability of yes"]
    assert out["predicted churned"].tolist() == ["yes", "no"]
    with pytest.raises(Exception, match="lack the column.*'plan'"):
        predict.predict_csv(b"months\n3\n", entry.card, run, Limits())
    app = open_page("predict")
    app.file_uploader(key="predict_csv").set_value(("new.csv", b"months\n3\n", "text/csv"))
    app.run()
    assert any("lack the column" in e.value for e in app.error)
