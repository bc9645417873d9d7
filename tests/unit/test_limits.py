"""Every limit is set from the environment, and hitting one gives a sentence that names the
limit and the setting that changes it (so a user can ask an admin for the right thing)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from dashcore.access.auth import User
from dashcore.datasets import uploads
from dashcore.errors import UserError
from dashcore.jobs import local, queue
from dashcore.models.archive_check import UploadRefused
from dashcore.models.presets import get_preset
from dashcore.models.specs import ModelSpec
from dashcore.models.upload import import_model
from dashcore.models.validation import validate_spec
from dashcore.settings import LIMIT_ENV, Limits, Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.training.config import TrainConfig
from dashcore.training.data import check_model_size

TINY = ModelSpec(name="Tiny dense", layers=[
    {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()


def fake_launcher(run_id: str, settings: Settings) -> tuple[int, float | None]:
    """Starts nothing and reports this (live) process as the worker."""
    return os.getpid(), local.process_identity(os.getpid())


def npz_bytes(n_train: int, n_test: int, noise: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    make = (lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)) if noise else \
        (lambda n: np.zeros((n, 28, 28), np.uint8))
    buffer = io.BytesIO()
    np.savez(buffer, x_train=make(n_train), y_train=np.arange(n_train) % 2,
             x_test=make(n_test), y_test=np.arange(n_test) % 2)
    return buffer.getvalue()


def test_the_defaults_are_the_documented_ones() -> None:
    assert get_settings().limits == Limits(upload_mb=100, dataset_images=200_000,
                                           max_epochs=200, max_params=20_000_000,
                                           queued_per_user=3, job_max_minutes=240.0,
                                           max_training_tmac=200.0, max_activation_mb=4096,
                                           user_disk_mb=2048, eval_max_seconds=300.0)


@pytest.mark.parametrize("field", sorted(LIMIT_ENV))
def test_each_limit_is_read_from_its_environment_variable(
        field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LIMIT_ENV[field], "7")
    assert getattr(get_settings().limits, field) == 7


def test_too_many_epochs_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_EPOCHS", "3")
    problems = TrainConfig(epochs=4).validate(get_settings().limits)
    assert any("4 epochs is not allowed: use a whole number from 1 to 3" in p
               and "DASHCORE_MAX_EPOCHS" in p for p in problems)
    with pytest.raises(UserError, match="DASHCORE_MAX_EPOCHS"):
        queue.submit(TrainConfig(architecture=TINY, epochs=4), launcher=fake_launcher,
                     settings=get_settings())


def test_zero_epochs_is_a_typo_not_a_limit() -> None:
    problems = TrainConfig(epochs=0).validate()
    assert problems and not any("DASHCORE_MAX_EPOCHS" in p for p in problems)


def test_too_many_parameters_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_PARAMS", "10000")
    with pytest.raises(UserError, match=r"more than the 10,000 .*DASHCORE_MAX_PARAMS"):
        validate_spec(get_preset("MLP 2×512"), get_settings().limits.max_params)
    with pytest.raises(UserError, match="DASHCORE_MAX_PARAMS"):
        queue.submit(TrainConfig(architecture=get_preset("MLP 2×512").to_dict(), epochs=1),
                    launcher=fake_launcher, settings=get_settings())


def test_the_keras_side_parameter_check_names_the_setting_too() -> None:
    class FakeModel:
        def count_params(self) -> int:
            return 2_000

    with pytest.raises(UserError, match=r"limit on this server is 1,000.*DASHCORE_MAX_PARAMS"):
        check_model_size(FakeModel(), Limits(max_params=1_000))


def test_too_many_queued_jobs_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_QUEUED_PER_USER", "1")
    config = TrainConfig(architecture=TINY, epochs=1, max_train_images=300)
    queue.submit(config, launcher=fake_launcher, user=User("ann"), settings=get_settings())
    with pytest.raises(UserError, match=r"the limit is 1 per user.*DASHCORE_QUEUED_PER_USER"):
        queue.submit(config, launcher=fake_launcher, user=User("ann"), settings=get_settings())


def test_a_dataset_over_the_upload_size_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_UPLOAD_MB", "1")
    big = npz_bytes(1_400, 10, noise=True)  # about 1.1 MB of incompressible pixels
    with pytest.raises(UserError, match=r"limited to 1 MB.*DASHCORE_UPLOAD_MB"):
        uploads.save_uploaded_dataset("big", big, settings=get_settings())


def test_a_model_over_the_upload_size_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_UPLOAD_MB", "1")
    with pytest.raises(UploadRefused, match=r"1 MB upload limit.*DASHCORE_UPLOAD_MB"):
        import_model(b"PK\x03\x04" + bytes(2 << 20), "big.keras", settings=get_settings())


def test_a_dataset_with_too_many_images_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_DATASET_IMAGES", "20")
    with pytest.raises(UserError, match=r"21 images; the limit is 20.*DASHCORE_MAX_DATASET"):
        uploads.save_uploaded_dataset("many", npz_bytes(15, 6), settings=get_settings())


# ---------------------------------------------------------------- budgets per job


def test_the_job_time_limit_takes_fractions_of_a_minute(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_JOB_MAX_MINUTES", "0.05")
    assert get_settings().limits.job_max_minutes == 0.05


def test_the_callback_stops_training_once_the_time_limit_has_passed() -> None:
    from dashcore.training.stopping import StopAtTimeLimit
    from tests.helpers.models import FakeClock, FakeModel

    clock, model = FakeClock(), FakeModel()
    callback = StopAtTimeLimit(60, clock=clock)
    callback.set_model(model)
    callback.set_params({"epochs": 5, "steps": 10})
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    clock.now = 59.0
    callback.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    clock.now = 61.0
    callback.on_train_batch_end(1, {"loss": 1.0})
    assert model.stop_training and callback.time_limit_hit and callback.stopped_at == (1, 2)


def test_a_run_over_the_time_limit_stops_cleanly_saying_so_and_keeps_its_model(
        monkeypatch) -> None:
    from dashcore.models.registry import read_card
    from dashcore.store.runs import STOPPED
    from dashcore.training.pipeline import train_in_process

    monkeypatch.setenv("DASHCORE_JOB_MAX_MINUTES", "0.0001")  # 6 ms: the first batch is over
    config = TrainConfig(architecture=TINY, epochs=3, batch_size=32, max_train_images=300)
    outcome = train_in_process(config, settings=get_settings())
    assert outcome.status == STOPPED
    assert outcome.reason.startswith("Stopped in epoch 1 at batch 1: training reached this "
                                     "server's job time limit")
    assert "The model so far was saved" in outcome.reason
    assert "DASHCORE_JOB_MAX_MINUTES" in outcome.reason
    assert read_card(outcome.model_id, settings=get_settings())["status"] == STOPPED


HEAVY = ModelSpec(name="Two wide convs", layers=[
    {"type": "Conv2D", "filters": 1024, "kernel_size": 3},
    {"type": "Conv2D", "filters": 1024, "kernel_size": 3},
    {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()


def test_a_run_with_too_much_training_work_is_refused_before_queueing_with_its_estimate(
        settings) -> None:
    config = TrainConfig(architecture=get_preset("CNN 32-64").to_dict(), epochs=200,
                         batch_size=1)
    with pytest.raises(UserError) as refused:
        queue.submit(config, launcher=fake_launcher, settings=settings)
    message = str(refused.value)
    assert message.startswith("This run would cost about 620 TMAC of training work (200 "
                              "epochs × 54,000 steps of 1 image, at 2.47 M multiply-"
                              "accumulates per image ×3 to train")
    assert "this server allows 200 TMAC per run" in message
    assert message.endswith("DASHCORE_MAX_TRAINING_TMAC.")
    assert not get_settings().store_path.exists() or not open_store(settings).list_runs()


def test_the_recommended_recipes_fit_the_default_budgets(settings) -> None:
    from dashcore.models.presets import PRESETS
    from dashcore.training.config import recommended_config
    from dashcore.training.data import describe_job

    for preset in PRESETS:
        described = describe_job(recommended_config(preset), settings=settings)
        assert described["training_tmac"] < 200, preset


def test_activation_memory_over_the_limit_suggests_a_batch_size_that_fits() -> None:
    from dashcore.training.data import describe_job

    config = TrainConfig(architecture=HEAVY, batch_size=4096, epochs=1, max_train_images=300)
    with pytest.raises(UserError) as refused:
        describe_job(config, get_settings())
    message = str(refused.value)
    assert message.startswith("At batch size 4,096 this model's layer outputs would take "
                              "about 85.7 GB of memory while training (layer 1 (Conv2D) alone "
                              "holds 10.6 GB); this server allows 4.0 GB.")
    assert "Use a batch size of at most 191" in message
    assert message.endswith("DASHCORE_MAX_ACTIVATION_MB.")
    describe_job(TrainConfig(architecture=HEAVY, batch_size=191, epochs=1,
                             max_train_images=300), get_settings())  # the suggestion fits


def test_the_cost_estimate_counts_multiply_accumulates_per_layer() -> None:
    from dashcore.models.cost import model_cost

    cost = model_cost(get_preset("CNN 32-64").with_data((28, 28, 1), 10))
    conv1 = 26 * 26 * 32 * 9 * 1
    conv2 = 11 * 11 * 64 * 9 * 32
    pools = 26 * 26 * 32 + 11 * 11 * 64
    dense = 1600 * 10
    assert cost.macs_per_image == conv1 + conv2 + pools + dense


# ---------------------------------------------------------------- disk quota per user


BOB, CAROL = User("bob"), User("carol")


def _png(size: int = 2_000) -> bytes:
    """A real (tiny) PNG padded to ``size`` bytes: its header reads as a 280×280 canvas."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (280, 280)).save(buffer, format="PNG")
    return buffer.getvalue() + bytes(max(0, size - len(buffer.getvalue())))


def _bobs_run_folder(size: int) -> None:
    """A finished run of bob's whose folder holds ``size`` bytes (checkpoints, logs)."""
    from dashcore.store.runs import RunRecord

    settings = get_settings().ensure_dirs()
    open_store(settings).create_run(RunRecord(run_id="bobs-run", name="bob's run",
                                              status="completed", owner="bob"))
    folder = settings.runs_dir / "bobs-run"
    folder.mkdir(parents=True)
    (folder / "best.weights.h5").write_bytes(bytes(size))


def test_models_datasets_drawings_and_runs_count_against_their_owner_only() -> None:
    import json

    from dashcore.access import quota
    from dashcore.datasets import drawings
    from dashcore.models import registry

    settings = get_settings().ensure_dirs()
    uploads.save_uploaded_dataset("bobs digits", npz_bytes(50, 10, noise=True), user=BOB,
                                  settings=settings)
    drawings.save_drawing(np.zeros((28, 28), np.uint8), 3, _png(5_000), user=BOB, settings=settings)
    _bobs_run_folder(7_000)
    registry.model_file("bobs-model", settings).write_bytes(bytes(3_000))
    registry.card_file("bobs-model", settings).write_text(
        json.dumps({"id": "bobs-model", "name": "Bob's", "owner": "bob"}), "utf-8")

    bob = quota.disk_use("bob", settings)
    assert list(bob.by_kind) == ["models", "exports", "datasets", "drawings", "runs"]
    assert bob.by_kind["models"] > 3_000 and bob.by_kind["datasets"] > 20_000
    assert bob.by_kind["drawings"] == 5_000 + 784 and bob.by_kind["runs"] == 7_000
    assert quota.disk_use("carol", settings).total == 0
    assert bob.line().startswith("You use ") and " of 2.0 GB (models " in bob.line()


def test_over_the_disk_quota_uploads_drawings_and_new_runs_are_refused_saying_how_much(
        monkeypatch) -> None:
    from dashcore.datasets import drawings

    monkeypatch.setenv("DASHCORE_USER_DISK_MB", "1")
    _bobs_run_folder(1_100_000)
    over = r"You use 1\.0 MB of your 1\.0 MB disk quota"
    with pytest.raises(UserError, match=over + r", and this dataset .* would take you over "
                                              r"it\. Delete .*DASHCORE_USER_DISK_MB"):
        uploads.save_uploaded_dataset("more", npz_bytes(10, 10), user=BOB, settings=get_settings())
    with pytest.raises(UserError, match=over + r", and this drawing"):
        drawings.save_drawing(np.zeros((28, 28), np.uint8), 3, _png(), user=BOB,
                              settings=get_settings())
    with pytest.raises(UserError, match=over + r", and this model"):
        import_model(b"PK\x03\x04" + bytes(100), "mine.keras", user=BOB, settings=get_settings())
    with pytest.raises(UserError, match=over + r", so a new run cannot be started"):
        queue.submit(TrainConfig(architecture=TINY, epochs=1, max_train_images=300),
                     launcher=fake_launcher, user=BOB, settings=get_settings())
    assert not (get_settings().datasets_dir / "more.npz").exists()
    assert drawings.count_drawings(get_settings()) == 0
    drawings.save_drawing(np.zeros((28, 28), np.uint8), 3, _png(), user=CAROL,
                          settings=get_settings())  # not bob's


def test_a_drawing_whose_canvas_is_not_a_small_png_is_refused(settings) -> None:
    from dashcore.datasets import drawings

    for blob in (b"GIF89a" + bytes(100), _png(2 << 20)):
        with pytest.raises(UserError, match="not a PNG image|2,048 KB; the limit is 1,024 KB"):
            drawings.save_drawing(np.zeros((28, 28), np.uint8), 3, blob, user=BOB,
                                  settings=settings)
    assert drawings.count_drawings(settings) == 0


# ---------------------------------------------------------------- uploaded models, evaluated apart


def test_an_uploaded_model_is_evaluated_in_a_separate_process_not_the_servers(
        monkeypatch, settings) -> None:
    from dashcore.evaluation import runner
    from tests.helpers.models import saved_model

    runner.clear_cache()
    entry = saved_model("bobs-upload", "uploaded")
    monkeypatch.setattr(runner, "get_predictor",
                        lambda path: pytest.fail("the uploaded model was loaded in-process"))
    result = runner.evaluate_entry(entry, "MNIST", "test", user=BOB, settings=settings)
    assert result.size == 10_000 and 0.0 <= result.accuracy <= 1.0
    assert not any((get_settings().uploads_dir / "evaluations").iterdir())  # cleaned up


def test_an_uploaded_model_over_the_evaluation_time_limit_is_stopped_with_a_sentence(
        monkeypatch) -> None:
    from dashcore.evaluation import runner
    from tests.helpers.models import saved_model

    runner.clear_cache()
    entry = saved_model("bobs-slow", "uploaded")
    monkeypatch.setenv("DASHCORE_EVAL_MAX_SECONDS", "0.2")  # less than importing TensorFlow
    with pytest.raises(UserError) as refused:
        runner.evaluate_entry(entry, "MNIST", "test", user=BOB, settings=get_settings())
    assert str(refused.value) == (
        "Evaluating this uploaded model took longer than 0.2 s, so it was stopped. Try the "
        "smaller test split, or a smaller model. This server's limit is set by "
        "DASHCORE_EVAL_MAX_SECONDS.")


def test_the_work_estimate_counts_canvas_ready_renderings_and_leaves_held_out_images_out(
        ) -> None:
    from dashcore.training.data import describe_job

    plain = describe_job(TrainConfig(architecture=TINY, epochs=1), get_settings())
    ready = describe_job(TrainConfig(architecture=TINY, epochs=1, canvas_ready=True,
                                     holdout_last=2_000), get_settings())
    assert plain["train_images"] == 54_000
    assert ready["train_images"] == 2 * 52_200  # (60,000 − 2,000) × 0.9, plus renderings


def test_a_quota_that_was_told_of_no_store_refuses_to_count_instead_of_letting_anyone_past(
        monkeypatch) -> None:
    from dashcore.access import quota

    monkeypatch.setattr(quota, "_counters", {})
    with pytest.raises(RuntimeError, match="count_every_store"):
        quota.check_quota(BOB, get_settings(), 10, "this dataset")
