"""The Keras callback that writes a run's whole-epoch checkpoint (see
:mod:`dashcore.training.checkpoints` for what it holds and how a run resumes from it)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dashcore.atomic import atomic_write_json, atomic_write_with
from dashcore.training.checkpoints import (
    BEST_WEIGHTS,
    STATE_FILE,
    CheckpointState,
    read_checkpoint,
    seed_states,
)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the compiled model and ``checkpoint.json`` after every whole epoch.

    Put it after LiveMetrics, StopOnNaN and KeepBestWeights in the callback list: it reads
    them to skip an epoch cut short by Stop (LiveMetrics counts only whole epochs) or
    spoilt by a NaN, and to record the best epoch so far.

    Args:
        run_dir: the run folder.
        live: the run's :class:`~dashcore.training.live_metrics.LiveMetrics`.
        nan: the run's :class:`~dashcore.training.stopping.StopOnNaN`.
        best: the run's :class:`~dashcore.training.best_weights.KeepBestWeights`.
        seed: the run's seed (recorded with the checkpoint).
        target: the model saved, when ``fit`` runs a wrapper around it (augmentation in
            front); the generator states are read from the fitted model, wrapper included.
            Defaults to the model being fitted.
    """

    def __init__(self, run_dir: Path, live: Any, nan: Any, best: Any, seed: int,
                 target: Any = None) -> None:
        super().__init__()
        self.target = target
        self.run_dir = Path(run_dir)
        self.live = live
        self.nan = nan
        self.best = best
        self.seed = int(seed)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Checkpoint a whole, healthy epoch; then drop the previous checkpoint file."""
        if self.nan.failure or self.live.epochs_done != epoch + 1:
            return
        previous = read_checkpoint(self.run_dir)
        if self.best.best_epoch == epoch + 1 and self.best.best_weights is not None:
            arrays = {f"w{i}": w for i, w in enumerate(self.best.best_weights)}
            atomic_write_with(self.run_dir / BEST_WEIGHTS,
                              lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
        name = f"checkpoint-e{epoch + 1:04d}.keras"
        saved = self.target if self.target is not None else self.model
        atomic_write_with(self.run_dir / name, lambda tmp: saved.save(tmp), suffix=".keras")
        state = CheckpointState(epoch=epoch + 1, file=name, seed=self.seed,
                                seed_states=seed_states(self.model),
                                best_epoch=self.best.best_epoch,
                                best_metrics=dict(self.best.best_metrics), saved=time.time())
        atomic_write_json(self.run_dir / STATE_FILE, asdict(state))
        if previous is not None and previous.file != name:
            (self.run_dir / previous.file).unlink(missing_ok=True)
