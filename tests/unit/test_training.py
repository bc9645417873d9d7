"""Training: the config's sentences, the live-metrics callback fed by hand (no training),
and one real tiny job in this process (300 images, one epoch, a tiny Dense model)."""

from __future__ import annotations

import json
import math
from typing import Any

import keras
import numpy as np
import pytest

from dashcore.backend import BACKEND_NAMES, BACKEND_PACKAGES
from dashcore.datasets.prepare import to_model_input
from dashcore.errors import NotFoundError, UserError
from dashcore.models.cards import ModelCard
from dashcore.models.registry import load_keras_model, read_card
from dashcore.models.specs import ModelSpec
from dashcore.settings import Limits, get_settings
from dashcore.store.runs import COMPLETED, STOPPED, RunRecord, RunStore, StoreSink
from dashcore.training.best_weights import KeepBestWeights
from dashcore.training.config import TrainConfig
from dashcore.training.data import describe_job, prepare_data
from dashcore.training.live_metrics import LiveMetrics
from dashcore.training.pipeline import train_in_process
from dashcore.training.stopping import StopOnNaN, StopOnRequest
from dashcore.training.tensorboard import read_records
from tests.helpers.models import FakeClock, FakeModel

pytestmark = pytest.mark.backends  # CI runs it on JAX without TensorFlow too

TINY = ModelSpec(name="Tiny dense", layers=[
    {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "relu"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()


# ---------------------------------------------------------------- hand-written fakes


class FakeRunStore(RunStore):
    """The run store in a few dicts: enough to see what the callback writes."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.batches: dict[str, list[dict]] = {}
        self.epochs: dict[str, dict[int, dict]] = {}
        self.stops: set[str] = set()

    def create_run(self, run: RunRecord) -> RunRecord:
        self.runs[run.run_id] = run
        return run

    def get_run(self, run_id: str) -> RunRecord:
        if run_id not in self.runs:
            raise NotFoundError(run_id)
        return self.runs[run_id]

    def list_runs(self, statuses=None) -> list[RunRecord]:
        return [r for r in self.runs.values() if statuses is None or r.status in statuses]

    def update_run(self, run_id: str, only_if_status=None, **fields: Any) -> bool:
        run = self.get_run(run_id)
        if only_if_status is not None and run.status not in only_if_status:
            return False
        for key, value in fields.items():
            setattr(run, key, value)
        return True

    def request_stop(self, run_id: str) -> None:
        self.stops.add(run_id)

    def stop_requested(self, run_id: str) -> bool:
        return run_id in self.stops

    def add_batch_points(self, run_id: str, points: list[dict]) -> None:
        self.batches.setdefault(run_id, []).extend(points)

    def add_epoch_point(self, run_id: str, point: dict) -> None:
        self.epochs.setdefault(run_id, {})[point["epoch"]] = point

    def batch_points(self, run_id: str, after_step: int = -1) -> list[dict]:
        return [p for p in self.batches.get(run_id, []) if p["step"] > after_step]

    def epoch_points(self, run_id: str) -> list[dict]:
        return [self.epochs[run_id][k] for k in sorted(self.epochs.get(run_id, {}))]



class Callbacks:
    """The workbench's callbacks as ``train_in_process`` wires them, driven by hand: each
    hook goes to every callback in turn, as Keras's own callback list does."""

    def __init__(self, store: FakeRunStore, clock: FakeClock, model: FakeModel) -> None:
        self.live = LiveMetrics(StoreSink(store, "r"), train_samples=1000, batch_size=100,
                                interval_s=0.5, clock=clock)
        self.nan = StopOnNaN()
        self.stop = StopOnRequest(lambda: store.stop_requested("r"))
        self.best = KeepBestWeights("val_loss")
        self.all = (self.live, self.nan, self.stop, self.best)
        for callback in self.all:
            callback.set_model(model)
            callback.set_params({"epochs": 2, "steps": 10})

    def __getattr__(self, hook: str):
        def call(*args):
            for callback in self.all:
                getattr(callback, hook)(*args)
        return call


@pytest.fixture
def live():
    """The callbacks wired to a fake store, a fake model and a clock the test moves."""
    store, clock, model = FakeRunStore(), FakeClock(), FakeModel()
    store.create_run(RunRecord(run_id="r", name="run"))
    callbacks = Callbacks(store, clock, model)
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    return callbacks, store, clock, model


# ---------------------------------------------------------------- the callback


def test_the_first_batch_is_recorded_at_once_then_at_most_every_interval(live):
    callback, store, clock, _ = live
    for batch in range(4):
        clock.now = 0.2 * (batch + 1)  # 0.2, 0.4, 0.6, 0.8 s
        callback.on_train_batch_end(batch, {"loss": 1.0, "accuracy": 0.5})
    # batch 0 at 0.2 s (the run's first); the next point is due at 0.7 s → batch 3 (0.8 s)
    assert [p["step"] for p in store.batch_points("r")] == [0, 3]
    assert store.get_run("r").progress["batch"] == 4


def test_each_point_holds_the_mean_since_the_previous_point(live):
    callback, store, clock, _ = live
    clock.now = 0.1
    callback.on_train_batch_end(0, {"loss": 2.0})  # mean over 100 samples: 2.0
    clock.now = 0.2
    callback.on_train_batch_end(1, {"loss": 1.5})  # not recorded (throttled)
    clock.now = 1.0
    callback.on_train_batch_end(2, {"loss": 1.0})  # running mean over 300 samples: 1.0
    # samples 101–300 have total 300·1.0 − 100·2.0 = 100 → mean 0.5
    assert [p["loss"] for p in store.batch_points("r")] == [2.0, pytest.approx(0.5)]


def test_the_last_batch_of_an_epoch_is_always_recorded_with_its_epoch_position(live):
    callback, store, clock, _ = live
    callback.on_train_batch_end(0, {"loss": 1.0})
    callback.on_train_batch_end(9, {"loss": 0.8})  # same instant, but the epoch's last
    last = store.batch_points("r")[-1]
    assert (last["epoch"], last["batch"], last["x"]) == (1, 10, 1.0)


def test_a_stop_request_ends_training_after_the_current_batch(live):
    callback, store, _, model = live
    callback.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    store.request_stop("r")
    callback.on_train_batch_end(1, {"loss": 1.0})
    assert model.stop_training and callback.stop.stop_requested
    assert callback.stop.stopped_at == (1, 2)


def test_a_nan_loss_fails_the_run_with_a_sentence_and_stops(live):
    callback, store, _, model = live
    callback.on_train_batch_end(0, {"loss": float("nan")})
    assert model.stop_training
    assert "not a number" in callback.nan.failure
    assert "Lower the learning rate" in callback.nan.failure
    assert "epoch 1, batch 1" in callback.nan.failure
    assert store.batch_points("r") == []  # nothing plotted for a NaN batch


def test_epochs_are_forwarded_in_full_and_the_best_one_is_kept(live):
    callback, store, clock, model = live
    model.weights = [np.array([1.0, 1.0, 1.0])]
    clock.now = 5.0
    callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.9})
    model.weights = [np.array([2.0, 2.0, 2.0])]
    callback.on_epoch_begin(1)
    clock.now = 9.0
    callback.on_epoch_end(1, {"loss": 0.3, "val_loss": 0.6, "val_accuracy": 0.8})
    points = store.epoch_points("r")
    assert [p["epoch"] for p in points] == [1, 2]
    assert points[0]["val_accuracy"] == 0.9 and points[1]["duration_s"] == 4.0
    assert callback.best.best_epoch == 1 and callback.best.best_metrics["val_loss"] == 0.4
    assert callback.best.best_weights[0].tolist() == [1.0, 1.0, 1.0]  # a copy, not the live one
    assert callback.live.epochs_done == 2


def test_an_epoch_cut_short_by_stop_is_marked_partial(live):
    callback, store, _, _ = live
    store.request_stop("r")
    callback.on_train_batch_end(3, {"loss": 1.0})
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.1})
    point = store.epoch_points("r")[0]
    assert point["partial"] and point["x"] == pytest.approx(0.4)
    assert callback.live.epochs_done == 0


# ---------------------------------------------------------------- the config


@pytest.mark.parametrize(("change", "sentence"), [
    ({"batch_size": 0}, "Batch size 0 is not allowed: use a whole number from 1 to 4096"),
    ({"validation_split": 1.0}, "Validation split 1 is not allowed: use a fraction from 0"),
    ({"epochs": 10_000}, "10,000 epochs is not allowed: use a whole number from 1 to 200"),
    ({"learning_rate": 50.0}, "Learning rate 50 is not allowed: use a number above 0"),
    ({"optimizer": "adagrad"}, "Optimizer 'adagrad' is not offered"),
    ({"classes": [3]}, "Pick at least two different classes"),
    ({"patience": 2, "validation_split": 0.0}, "Early stopping watches the validation loss"),
])
def test_impossible_settings_are_refused_with_a_sentence(change, sentence):
    problems = TrainConfig(**change).validate(Limits())
    assert any(p.startswith(sentence) for p in problems), problems
    with pytest.raises(UserError, match=sentence.split(":")[0]):
        TrainConfig(**change).check()


def test_the_defaults_are_the_tutorial_recipe_and_valid():
    config = TrainConfig()
    assert config.validate() == []
    assert (config.spec.name, config.optimizer, config.learning_rate, config.batch_size,
            config.epochs, config.validation_split) == ("CNN 32-64", "adam", 1e-3, 128, 5, 0.1)


def test_a_config_round_trips_through_json_and_refuses_unknown_keys():
    config = TrainConfig(classes=[3, 8], augment=True)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(UserError, match="learning_rat"):
        TrainConfig.from_dict({"learning_rat": 0.1})


def test_a_model_over_the_parameter_limit_is_refused_before_queueing(monkeypatch):
    config = TrainConfig(architecture=TINY, classes=[3, 8])
    assert describe_job(config, settings=get_settings())["params"] == 784 * 16 + 16 + 16 * 2 + 2
    monkeypatch.setenv("DASHCORE_MAX_PARAMS", "1000")
    with pytest.raises(UserError, match="parameters"):
        describe_job(config, settings=get_settings())


# ---------------------------------------------------------------- data


def test_images_become_float32_in_0_1_with_a_channel_axis_in_one_step():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = to_model_input(x)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1)
    assert out[0, :, :, 0].ravel().tolist() == pytest.approx([0.0, 1.0, 0.2, 0.4])


def test_a_class_subset_is_relabelled_and_split_without_overlap(settings):
    data = prepare_data(TrainConfig(classes=[3, 8], max_train_images=200,
                                    validation_split=0.25, seed=1), settings=settings)
    assert data.class_names == ("3", "8") and data.num_classes == 2
    assert (len(data.x_train), len(data.x_val)) == (150, 50)
    assert data.y_train.shape == (150, 2) and set(data.y_test.argmax(1).tolist()) == {0, 1}
    flat_train = {x.tobytes() for x in data.x_train}
    assert not any(x.tobytes() in flat_train for x in data.x_val)


# ---------------------------------------------------------------- a real tiny job


def test_a_tiny_job_trains_reports_metrics_and_registers_a_model_with_a_card(settings):
    store = FakeRunStore()
    store.create_run(RunRecord(run_id="tiny", name="tiny"))
    config = TrainConfig(architecture=TINY, epochs=1, batch_size=32, max_train_images=300,
                         seed=7, batch_log_interval_s=0.05)
    outcome = train_in_process(config, StoreSink(store, "tiny"), run_id="tiny", name="Tiny run",
                               settings=settings)

    assert outcome.status == COMPLETED and outcome.epochs_done == 1
    assert store.batch_points("tiny") and store.batch_points("tiny")[-1]["batch"] == 9
    epoch = store.epoch_points("tiny")[0]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epoch)
    assert 0.0 <= outcome.test_accuracy <= 1.0 and math.isfinite(outcome.test_loss)

    card = read_card(outcome.model_id, settings=settings)
    for key in ("name", "owner", "source", "run_id", "dataset", "spec", "hyperparameters",
                "seed", "epochs_done", "final_metrics", "best_metrics", "best_epoch",
                "test_accuracy", "test_loss", "duration_s", "versions", "input_shape",
                "num_classes", "class_names", "params", "created"):
        assert key in card, key
    assert (card["name"], card["source"], card["run_id"], card["params"]) == (
        "Tiny run", "trained", "tiny", 784 * 16 + 16 + 16 * 10 + 10)
    backend = keras.backend.backend()
    assert card["backend"] == card["versions"]["backend"] == backend
    assert {"keras", "numpy", "python", BACKEND_PACKAGES[backend][0]} <= set(card["versions"])
    # /models says it in words: "JAX · CPU · jit", "TensorFlow · CPU".
    assert ModelCard.from_dict(card).device_line().startswith(f"{BACKEND_NAMES[backend]} · CPU")

    model = load_keras_model(get_settings().models_dir / f"{outcome.model_id}.keras")
    probabilities = np.asarray(model(to_model_input(np.zeros((1, 28, 28), np.uint8)),
                                     training=False))
    assert probabilities.shape == (1, 10)

    run_dir = get_settings().runs_dir / "tiny"
    assert (run_dir / "best.weights.h5").is_file()
    assert json.loads((run_dir / "config.json").read_text()) == config.to_dict()
    assert _tensorboard_tags(run_dir / "tensorboard" / "validation") >= {"epoch_loss",
                                                                         "epoch_accuracy"}


def test_a_card_names_the_backend_it_was_trained_on_even_without_a_device_line():
    assert ModelCard.from_dict({"device": "PyTorch · 1 GPU"}).device_line() == "PyTorch · 1 GPU"
    assert ModelCard.from_dict({"backend": "jax"}).device_line() == "JAX"  # an older card
    assert ModelCard.from_dict({"source": "uploaded"}).device_line() == "—"


def test_a_stopped_job_keeps_the_model_trained_so_far(settings):
    calls = {"n": 0}

    def stop_after_three_batches() -> bool:
        calls["n"] += 1
        return calls["n"] > 3  # first call is the pre-fit check

    config = TrainConfig(architecture=TINY, epochs=3, batch_size=32, max_train_images=300)
    outcome = train_in_process(config, should_stop=stop_after_three_batches, settings=settings)
    assert outcome.status == STOPPED
    assert outcome.reason == "Stopped on request in epoch 1 at batch 3."
    assert outcome.model_id and read_card(outcome.model_id, settings=settings)["status"] == STOPPED


def _tensorboard_tags(folder) -> set[str]:
    """Read the event files back the way TensorBoard does (TFRecord-framed Events), with a
    hand-written protobuf reader: the JAX pass has no TensorFlow to parse them."""
    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        with open(path, "rb") as stream:
            for record in read_records(stream):
                tags.update(_event_tags(record))
    return tags


def _fields(message: bytes):
    """(field number, value) pairs of a protobuf message (varint, 64-bit, bytes, 32-bit)."""
    i = 0
    while i < len(message):
        key, i = _read_varint(message, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = _read_varint(message, i)
        elif kind == 1:
            value, i = message[i:i + 8], i + 8
        elif kind == 2:
            length, i = _read_varint(message, i)
            value, i = message[i:i + length], i + length
        elif kind == 5:
            value, i = message[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
        yield number, value


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _event_tags(record: bytes) -> set[str]:
    """Event.summary (field 5) → Summary.value (1) → Value.tag (1)."""
    return {tag.decode() for number, summary in _fields(record) if number == 5
            for vnum, value in _fields(summary) if vnum == 1
            for tnum, tag in _fields(value) if tnum == 1}
