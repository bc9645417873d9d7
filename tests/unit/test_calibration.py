"""Temperature scaling: fitted on held-out data, applied by interpret and the predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dashcore.inference.calibration import (
    apply_temperature,
    fit_temperature,
    pick_threshold,
    sure_stats,
)
from dashcore.inference.predictor import card_temperature, interpret


def test_a_temperature_above_one_softens_without_changing_the_answer() -> None:
    outputs = np.array([0.05, 0.9, 0.05])
    plain = interpret(outputs)
    soft = interpret(outputs, temperature=2.0)
    assert soft.label == plain.label == "1"
    assert soft.confidence < plain.confidence
    assert soft.probabilities.sum() == pytest.approx(1.0)
    assert interpret(outputs, temperature=1.0).confidence == pytest.approx(0.9)


def test_fitting_recovers_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(4000, 10))
    truth = apply_temperature(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 0.5)
    labels = np.array([rng.choice(10, p=p) for p in truth])
    overconfident = apply_temperature(truth, 0.5)  # what a model trained too sure would say
    assert fit_temperature(overconfident, labels) == pytest.approx(2.0, rel=0.1)


def test_the_threshold_is_raised_until_sure_answers_are_right_often_enough() -> None:
    probs = np.array([[0.95, 0.05], [0.75, 0.25], [0.72, 0.28], [0.9, 0.1]])
    labels = np.array([0, 1, 0, 0])  # the 0.75 answer is wrong
    assert sure_stats(probs, labels, 0.7) == (0.75, 1.0)
    assert pick_threshold(probs, labels, preferred=0.7) == 0.8
    assert pick_threshold(probs, np.array([0, 0, 0, 0]), preferred=0.7) == 0.7


def test_the_card_beside_a_model_file_gives_its_temperature(tmp_path: Path) -> None:
    model = tmp_path / "m.keras"
    assert card_temperature(model) == 1.0  # no card
    (tmp_path / "m.json").write_text(json.dumps({"calibration": {"temperature": 1.7}}))
    assert card_temperature(model) == 1.7
    (tmp_path / "m.json").write_text(json.dumps({"calibration": {"temperature": -3}}))
    assert card_temperature(model) == 1.0


def test_the_shared_predictor_applies_its_temperature() -> None:
    import keras

    from dashcore.inference.predictor import SharedPredictor

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    image = np.full((4, 4), 0.8, np.float32)
    raw = SharedPredictor(model, compiled=False).predict_one(image)
    warm = SharedPredictor(model, compiled=False, temperature=3.0).predict_one(image)
    assert np.allclose(warm, apply_temperature(raw, 3.0), atol=1e-6)
    assert warm.argmax() == raw.argmax()


def test_each_model_is_sure_at_the_threshold_on_its_own_card(tmp_path: Path) -> None:
    from dashcore.inference.predictor import CONFIDENCE_THRESHOLD, card_threshold

    model = tmp_path / "m.keras"
    assert card_threshold(model) == CONFIDENCE_THRESHOLD  # no card: the default
    (tmp_path / "m.json").write_text(json.dumps({"calibration": {"threshold": 0.9,
                                                                 "temperature": 1.2}}))
    assert card_threshold(model) == 0.9 and card_temperature(model) == 1.2
    for bad in (0.2, 1.5, "high", None):  # out of range or not a number: the default
        (tmp_path / "m.json").write_text(json.dumps({"calibration": {"threshold": bad}}))
        assert card_threshold(model) == CONFIDENCE_THRESHOLD
