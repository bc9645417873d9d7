"""The shipped default model: accurate, small, honest about how it was made, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dashcore.models import default_model, registry
from dashcore.models.registry import BUILTIN_ID, builtin_paths, load_keras_model


@pytest.fixture(scope="module")
def shipped():
    model_path, card_path = builtin_paths()
    assert model_path.is_file(), "run `python -m dashcore.models.default_model` to create it"
    return load_keras_model(model_path), json.loads(card_path.read_text("utf-8"))


def test_the_shipped_model_scores_at_least_99_2_percent_on_all_mnist_test_images(shipped
                                                                                  ) -> None:
    model, card = shipped
    accuracy = default_model.test_accuracy(model)  # all 10,000 test images
    assert accuracy >= 0.992 == default_model.MIN_TEST_ACCURACY
    assert card["test_accuracy"] == pytest.approx(accuracy, abs=0.002)  # the card is honest


def test_its_card_records_the_canvas_figures_and_a_temperature_the_predictor_applies(shipped
                                                                                    ) -> None:
    from dashcore.inference.predictor import CONFIDENCE_THRESHOLD, card_temperature

    _, card = shipped
    calibration = card["calibration"]
    assert card["hyperparameters"]["canvas_ready"] is True
    assert calibration["heldout"]["images"] == 2000
    assert card["canvas_heldout_accuracy"] == calibration["heldout"]["accuracy"] >= 0.98
    assert calibration["threshold"] == CONFIDENCE_THRESHOLD  # /draw's threshold was confirmed
    assert calibration["validation"]["sure_accuracy"] >= 0.99
    assert card_temperature(builtin_paths()[0]) == calibration["temperature"] > 0


def test_the_shipped_model_is_small() -> None:
    assert builtin_paths()[0].stat().st_size < 1_000_000


def test_its_card_says_exactly_how_it_was_trained_and_how_to_regenerate_it(shipped) -> None:
    model, card = shipped
    assert card["regenerate"] == "python -m dashcore.models.default_model"
    assert card["spec"]["layers"] == default_model.default_spec().to_dict()["layers"]
    assert card["hyperparameters"]["seed"] == card["seed"] == default_model.SEED
    assert card["hyperparameters"]["epochs"] == card["epochs_done"] == default_model.EPOCHS
    assert card["params"] == model.count_params()
    assert {"keras", "tensorflow", "numpy", "python"} <= set(card["versions"])
    assert card["fit_s"] > 0 and card["test_images"] == 10_000


def test_a_fresh_install_draws_with_the_builtin_model(settings) -> None:
    ids = [e.model_id for e in registry.list_models(settings)]
    assert ids == [BUILTIN_ID]
    assert registry.default_model_id(settings) == BUILTIN_ID


def test_the_recipe_is_one_a_user_could_enter_on_the_train_page() -> None:
    from dashcore.training.config import TrainConfig

    config = default_model.default_config()
    assert config.validate() == []
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.slow
def test_regenerating_trains_through_the_pipeline_and_writes_model_and_card(tmp_path: Path, settings
                                                                           ) -> None:
    config = default_model.default_config(epochs=1, max_train_images=400)
    model, card = default_model.train_default(config, quiet=True, cache_dir=tmp_path / "cache",
                                              settings=settings)
    model_path, card_path = default_model.write_default(
        model, card, tmp_path / "default_model.keras", tmp_path / "default_model.json")
    reloaded = load_keras_model(model_path)
    written = json.loads(card_path.read_text("utf-8"))
    assert written["file_bytes"] == model_path.stat().st_size
    assert written["hyperparameters"]["max_train_images"] == 400
    assert 0.0 <= written["test_accuracy"] <= 1.0
    x = np.zeros((1, 28, 28, 1), np.float32)
    assert np.allclose(reloaded(x, training=False), model(x, training=False), atol=1e-6)
    assert not list(registry.list_models(include_builtin=False,
                                         settings=settings))  # user's registry untouched
