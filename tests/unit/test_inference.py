"""The shared predictor: loaded once per file, right answers, safe from many sessions."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from dashcore.errors import UserError
from dashcore.inference import predictor
from dashcore.inference.predictor import (
    SharedPredictor,
    fit_input,
    get_predictor,
    interpret,
)
from dashcore.models.builder import build_model
from dashcore.models.presets import get_preset
from dashcore.settings import get_settings

pytestmark = pytest.mark.backends  # CI runs it on JAX without TensorFlow too


@pytest.fixture(autouse=True)
def _fresh_cache():
    predictor.clear_cache()
    yield
    predictor.clear_cache()


@pytest.fixture(scope="module")
def dense_model():
    import keras

    keras.utils.set_random_seed(0)
    return build_model(get_preset("Dense 64"), get_settings().limits.max_params)


@pytest.fixture
def model_path(dense_model, tmp_path: Path) -> Path:
    path = tmp_path / "dense.keras"
    dense_model.save(path)
    return path


def digits(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("shape,expected", [((28, 28, 1), (3, 28, 28, 1)), ((28, 28), (3, 28, 28)),
                                            ((784,), (3, 784)), ((None, None, 1), (3, 28, 28, 1))])
def test_images_are_shaped_for_whatever_input_the_model_takes(shape, expected) -> None:
    x = fit_input(digits(3), shape)
    assert x.shape == expected and x.dtype == np.float32 and x.max() <= 1.0


def test_an_image_that_cannot_fit_names_both_shapes() -> None:
    with pytest.raises(UserError, match=r"32×32×3.*28×28"):
        fit_input(digits(1), (32, 32, 3))


def test_the_fast_path_gives_the_same_probabilities_as_the_model_itself(dense_model) -> None:
    import keras

    images = digits(5)
    expected = keras.ops.convert_to_numpy(dense_model(fit_input(images, (28, 28, 1)),
                                                      training=False))
    predictor = SharedPredictor(dense_model)
    assert predictor._forward is not None  # this backend's fast path, not the fallback
    one = np.stack([predictor.predict_one(image) for image in images])
    many = predictor.predict_many(images, batch_size=2)
    assert np.allclose(one, expected, atol=1e-5)
    assert np.allclose(many, expected, atol=1e-5)
    assert predictor.predict_many(images[:0]).shape == (0, 10)


def test_a_model_file_is_loaded_once_and_shared(model_path: Path) -> None:
    assert get_predictor(model_path) is get_predictor(model_path)


def test_a_replaced_model_file_is_reloaded(model_path: Path) -> None:
    first = get_predictor(model_path)
    stat = model_path.stat()
    os.utime(model_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert get_predictor(model_path) is not first


def test_a_deleted_model_file_says_to_pick_another(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="was deleted: its file gone.keras no longer exists"):
        get_predictor(tmp_path / "gone.keras")


def test_many_sessions_predicting_at_once_get_the_right_answers(model_path: Path) -> None:
    predictor = get_predictor(model_path)
    images = digits(8, seed=1)
    expected = predictor.predict_many(images)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def session(i: int) -> None:
        try:
            for _ in range(5):
                results[i] = get_predictor(model_path).predict_one(images[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i in range(len(images)):
        assert np.allclose(results[i], expected[i], atol=1e-5)


def test_a_confident_answer_reads_prediction_n() -> None:
    probs = np.full(10, 0.01)
    probs[7] = 0.91
    answer = interpret(probs)
    assert answer.sure and answer.label == "7"
    assert answer.headline() == "Prediction: 7 (91% confident)"


def test_an_unsure_answer_gives_the_two_best_guesses_not_a_prediction() -> None:
    probs = np.zeros(10)
    probs[[4, 9, 1]] = [0.48, 0.41, 0.11]
    answer = interpret(probs)
    assert not answer.sure
    assert answer.top(2) == [("4", pytest.approx(0.48)), ("9", pytest.approx(0.41))]
    assert answer.headline() == "Not sure: maybe 4 (48%) or 9 (41%)"
    assert "Prediction" not in answer.headline()


def test_a_near_certain_answer_never_claims_100_percent() -> None:
    probs = np.full(10, 0.0004 / 9)
    probs[3] = 0.9996
    assert interpret(probs).headline() == "Prediction: 3 (>99% confident)"


def test_logits_are_turned_into_probabilities() -> None:
    answer = interpret(np.array([2.0, -1.0, 0.5]), class_names=["cat", "dog", "bird"])
    assert answer.probabilities.sum() == pytest.approx(1.0)
    assert answer.label == "cat"


def test_class_names_that_do_not_match_the_outputs_are_refused() -> None:
    with pytest.raises(UserError, match="10 outputs but 2 class names"):
        interpret(np.full(10, 0.1), class_names=["3", "8"])


def test_a_prediction_is_sure_at_the_threshold_on_the_model_card(model_path: Path) -> None:
    import json

    from dashcore.inference.predictor import predict_drawing

    image = digits(1)[0]
    top = float(get_predictor(model_path).predict_one(image).max())
    predictor.clear_cache()
    model_path.with_suffix(".json").write_text(json.dumps({"calibration": {"threshold":
                                                                           min(top + 0.01, 1)}}))
    assert not predict_drawing(model_path, image).sure  # just under this card's threshold
    predictor.clear_cache()
    model_path.with_suffix(".json").write_text(json.dumps({"calibration": {"threshold":
                                                                           max(top - 0.01, .5)}}))
    assert predict_drawing(model_path, image).sure == (top >= 0.5)


def test_a_background_load_is_shared_with_a_drawing_that_arrives_while_it_runs(
        model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashcore.models import registry

    loads: list[Path] = []
    release = threading.Event()
    real = registry.load_keras_model

    def slow_load(path: Path):
        loads.append(path)
        release.wait(10)  # TensorFlow and the model, still loading
        return real(path)

    monkeypatch.setattr(registry, "load_keras_model", slow_load)
    thread = predictor.preload(model_path)
    assert thread is not None and not predictor.is_loaded(model_path)
    assert predictor.preload(model_path) is None  # one load per file, not two
    answers: list[np.ndarray] = []
    drawing = threading.Thread(target=lambda: answers.append(
        get_predictor(model_path).predict_one(digits(1)[0])))
    drawing.start()  # waits for the load in flight
    drawing.join(0.3)
    assert drawing.is_alive() and not answers
    release.set()
    drawing.join(10)
    thread.join(10)
    assert len(answers) == 1 and answers[0].shape == (10,)  # answered, not dropped
    assert len(loads) == 1 and predictor.is_loaded(model_path)


def test_a_failed_background_load_leaves_the_sentence_to_the_drawing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    predictor.preload(broken).join(30)
    assert not predictor.is_loaded(broken)
    with pytest.raises(UserError, match="cannot be loaded"):
        get_predictor(broken)
