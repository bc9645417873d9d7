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
                                           queued_per_user=3)


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
        queue.submit(TrainConfig(architecture=TINY, epochs=4), launcher=fake_launcher)


def test_zero_epochs_is_a_typo_not_a_limit() -> None:
    problems = TrainConfig(epochs=0).validate()
    assert problems and not any("DASHCORE_MAX_EPOCHS" in p for p in problems)


def test_too_many_parameters_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_PARAMS", "10000")
    with pytest.raises(UserError, match=r"more than the 10,000 .*DASHCORE_MAX_PARAMS"):
        validate_spec(get_preset("MLP 2×512"))
    with pytest.raises(UserError, match="DASHCORE_MAX_PARAMS"):
        queue.submit(TrainConfig(architecture=get_preset("MLP 2×512").to_dict(), epochs=1),
                    launcher=fake_launcher)


def test_the_keras_side_parameter_check_names_the_setting_too() -> None:
    class FakeModel:
        def count_params(self) -> int:
            return 2_000

    with pytest.raises(UserError, match=r"limit on this server is 1,000.*DASHCORE_MAX_PARAMS"):
        check_model_size(FakeModel(), Limits(max_params=1_000))


def test_too_many_queued_jobs_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_QUEUED_PER_USER", "1")
    config = TrainConfig(architecture=TINY, epochs=1, max_train_images=300)
    queue.submit(config, launcher=fake_launcher, user=User("ann"))
    with pytest.raises(UserError, match=r"the limit is 1 per user.*DASHCORE_QUEUED_PER_USER"):
        queue.submit(config, launcher=fake_launcher, user=User("ann"))


def test_a_dataset_over_the_upload_size_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_UPLOAD_MB", "1")
    big = npz_bytes(1_400, 10, noise=True)  # about 1.1 MB of incompressible pixels
    with pytest.raises(UserError, match=r"limited to 1 MB.*DASHCORE_UPLOAD_MB"):
        uploads.save_uploaded_dataset("big", big)


def test_a_model_over_the_upload_size_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_UPLOAD_MB", "1")
    with pytest.raises(UploadRefused, match=r"1 MB upload limit.*DASHCORE_UPLOAD_MB"):
        import_model(b"PK\x03\x04" + bytes(2 << 20), "big.keras")


def test_a_dataset_with_too_many_images_names_the_limit_and_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_DATASET_IMAGES", "20")
    with pytest.raises(UserError, match=r"21 images; the limit is 20.*DASHCORE_MAX_DATASET"):
        uploads.save_uploaded_dataset("many", npz_bytes(15, 6))
