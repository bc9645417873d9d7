"""Every byte a person's action writes counts against a quota, checked before it is written:
exports (the model owner's), and the model a worker saves at the end of a run."""

from __future__ import annotations

import pytest

from dashcore.access.auth import User
from dashcore.access.quota import disk_use
from dashcore.errors import UserError
from dashcore.models import export_formats, registry
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import RunRecord
from dashcore.training.pipeline import train_in_process
from tests.helpers.jobs import QUICK

ANN, BOB = User("ann"), User("bob")


def _anns_model(units: int = 16) -> registry.ModelEntry:
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(units), keras.layers.Dense(10,
                                                                            activation="softmax")])
    return registry.save_model(model, {"name": "ann's", "owner": "ann", "dataset": "MNIST",
                                       "input_shape": [28, 28, 1], "num_classes": 10},
                               get_settings())


def test_an_export_counts_against_the_model_owners_quota() -> None:
    settings = get_settings()
    entry = _anns_model()
    before = disk_use("ann", settings)
    folder = export_formats.export_folder(entry, settings)
    folder.mkdir(parents=True)
    (folder / "savedmodel-1.savedmodel.zip").write_bytes(bytes(300_000))  # what prepare leaves
    after = disk_use("ann", settings)
    assert after.by_kind["exports"] == 300_000 and before.by_kind["exports"] == 0
    assert after.total == before.total + 300_000
    assert disk_use("bob", settings).total == 0


def test_an_export_past_the_owners_quota_is_refused_before_it_is_converted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_USER_DISK_MB", "1")
    settings = get_settings()
    entry = _anns_model(units=150)  # ~470 kB: its export (~2×) would pass 1 MB
    with pytest.raises(UserError, match=r"You use .* of your 1\.0 MB disk quota, and this "
                                        r"export .* would take you over it"):
        export_formats.prepare(entry, "savedmodel", settings, user=ANN)
    with pytest.raises(UserError, match="Exports count against the model owner's disk quota, "
                                        "and ann uses"):
        export_formats.prepare(entry, "savedmodel", settings, user=BOB)
    assert not export_formats.export_folder(entry, settings).exists()


def test_a_worker_rechecks_the_quota_before_it_saves_the_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_USER_DISK_MB", "1")
    settings = get_settings().ensure_dirs()
    open_store(settings).create_run(RunRecord(run_id="r-ann", name="ann's", owner="ann",
                                              status="completed"))
    # since the run was queued, ann filled her quota (another run's checkpoints)
    (settings.runs_dir / "r-ann").mkdir(parents=True)
    (settings.runs_dir / "r-ann" / "best.weights.h5").write_bytes(bytes(1_040_000))
    with pytest.raises(UserError) as refused:
        train_in_process(QUICK, settings=settings, owner="ann")
    assert str(refused.value).startswith("The model was not saved. You use ")
    assert "continue the run once there is room" in str(refused.value)
    assert registry.list_models(settings, include_builtin=False) == []
