"""Whole-epoch checkpoints, so a run can be continued as if it had never stopped.

Imports no Keras or TensorFlow until a function needs them, so pages and the job queue can
ask whether a run has a checkpoint without loading them.

After every *whole* epoch
:class:`~dashcore.training.epoch_checkpoint.EpochCheckpoint` saves, in the run folder:

* ``checkpoint-eNNNN.keras``: the compiled model, so the optimizer's state (Adam's moments,
  its step counter and so its learning-rate schedule) comes back with the weights;
* ``checkpoint.json``: which file is current, the epoch (1-based, whole epochs done), the
  seed, the states of the model's random-number generators (Dropout's, which a ``.keras``
  file does not keep) and the best epoch so far. It is written *after* the model file, so
  a worker killed at any moment leaves a pointer to a complete, whole-epoch checkpoint.

The other half of "as if it had never stopped" is the data order:
:class:`~dashcore.training.epochs.SeededEpochs` derives epoch *e*'s shuffle from
``(seed, e)`` alone, so epoch 2 sees the same batches whether it follows epoch 1 in the
same process or in a resumed one.

Example:
    >>> state = read_checkpoint(run_dir)  # doctest: +SKIP
    >>> model, state = load_checkpoint(run_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dashcore.atomic import atomic_write_json
from dashcore.errors import UserError

STATE_FILE = "checkpoint.json"
BEST_WEIGHTS = "checkpoint-best.npz"  # the best whole epoch's weights, as of the checkpoint
_SEED_STATE = "seed_generator_state"


@dataclass
class CheckpointState:
    """What ``checkpoint.json`` says about the last whole epoch."""

    epoch: int  # whole epochs done (1-based: 1 after the first epoch)
    file: str  # the .keras file in the run folder holding that epoch's model and optimizer
    seed: int
    seed_states: list[list[int]] = field(default_factory=list)  # RNG states, in layer order
    best_epoch: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    saved: float = 0.0  # Unix time


def seed_states(model: Any) -> list[list[int]]:
    """The state of every random-number generator in the model (Dropout's), in order."""
    return [[int(v) for v in np.asarray(var.numpy()).ravel()]
            for var in model.variables if _SEED_STATE in var.path]


def restore_seed_states(model: Any, states: list[list[int]]) -> None:
    """Put saved generator states back (a reloaded model starts them afresh)."""
    variables = [var for var in model.variables if _SEED_STATE in var.path]
    if len(variables) != len(states):
        return  # a different model: leave its generators as they are
    for var, state in zip(variables, states, strict=True):
        var.assign(np.asarray(state, dtype=var.dtype).reshape(var.shape))


def read_checkpoint(run_dir: Path | None) -> CheckpointState | None:
    """The last whole-epoch checkpoint of a run folder, or None when there is none."""
    if run_dir is None:
        return None
    try:
        data = json.loads((Path(run_dir) / STATE_FILE).read_text("utf-8"))
        state = CheckpointState(**data)
    except (OSError, ValueError, TypeError):
        return None
    if state.epoch < 1 or not (Path(run_dir) / state.file).is_file():
        return None
    return state


def load_checkpoint(run_dir: Path) -> tuple[Any, CheckpointState]:
    """The compiled model (with its optimizer state) and the state of the last whole epoch.

    Load it under the run's dtype policy and distribution (as a fresh model is built), then
    put the generator states back with :func:`restore_seed_states` on the model that is
    fitted (augmentation included).

    Raises:
        UserError: the run has no whole epoch saved.
    """
    state = read_checkpoint(run_dir)
    if state is None:
        raise UserError("This run has no checkpoint of a whole epoch to continue from (it "
                        "ended before its first epoch finished): start it again instead.")
    import keras

    model = keras.saving.load_model(str(Path(run_dir) / state.file), compile=True,
                                    safe_mode=True)
    return model, state


def best_weights(model: Any, run_dir: Path, state: CheckpointState
                 ) -> list[np.ndarray] | None:
    """The best whole epoch's weights as of the checkpoint (for ``keep_best``).

    Read from the checkpoint's own copy, not LiveMetrics' ``best.weights.h5``: that one may
    hold a later, cut-short epoch that the checkpoint does not know of.
    """
    if state.best_epoch is None:
        return None
    if state.best_epoch == state.epoch:
        return [np.array(w) for w in model.get_weights()]
    try:
        with np.load(Path(run_dir) / BEST_WEIGHTS) as saved:
            weights = [saved[f"w{i}"] for i in range(len(saved.files))]
    except (OSError, ValueError, KeyError):
        return None
    shapes = [tuple(w.shape) for w in model.get_weights()]
    return weights if [tuple(w.shape) for w in weights] == shapes else None


def copy_checkpoint(source: Path, target: Path) -> CheckpointState:
    """Copy a run's last checkpoint (and best weights) into another run's folder."""
    state = read_checkpoint(source)
    if state is None:
        raise UserError("That run has no checkpoint of a whole epoch to continue from.")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(source) / state.file, target / state.file)
    if (Path(source) / BEST_WEIGHTS).is_file():
        shutil.copyfile(Path(source) / BEST_WEIGHTS, target / BEST_WEIGHTS)
    atomic_write_json(target / STATE_FILE, asdict(state))
    return state
