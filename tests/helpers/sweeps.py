"""Sweep plans and finished trials, written the way a worker would."""

from __future__ import annotations

from dashcore.models.presets import get_preset
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED
from dashcore.sweeps.space import SweepPlan
from dashcore.training.config import TrainConfig

BASE = TrainConfig(architecture=get_preset("Dense 64").to_dict(), epochs=1, batch_size=32,
                   max_train_images=300).to_dict()


def plan(**changes) -> SweepPlan:
    values = {"name": "lr search", "base": BASE, "n_trials": 4, "parallel": 2,
              "vary": {"learning_rate": {"low": 1e-4, "high": 1e-2},
                       "batch_size": {"choices": [16, 32]}}}
    return SweepPlan(**{**values, **changes})


def finish(run_id: str, val_accuracy: float, status: str = COMPLETED, **summary) -> None:
    """What a worker would record at the end of a run."""
    open_store(get_settings()).update_run(run_id, status=status, summary={
        "best_metrics": {"val_accuracy": val_accuracy, "val_loss": 1 - val_accuracy},
        **summary})

