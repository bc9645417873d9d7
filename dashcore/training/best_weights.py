"""The callback that keeps the best epoch's weights, in memory and on disk as they improve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dashcore.atomic import atomic_write_with


class KeepBestWeights(keras.callbacks.Callback):
    """Remembers the epoch with the lowest ``monitor`` and a copy of its weights.

    The registered model is that epoch's, so the test set never chooses; the checkpoint
    file is rewritten atomically whenever an epoch improves, so it survives a crash.

    Args:
        monitor: the metric to minimise. Defaults to ``"val_loss"`` (``"loss"`` when the
            epoch has no validation metrics).
        checkpoint: where to save the best weights (``.weights.h5``); ``None`` keeps them
            in memory only.
        target: the model whose weights are kept, when ``fit`` runs a wrapper around it
            (augmentation in front). Defaults to the model being fitted.

    Example:
        >>> best = KeepBestWeights("val_loss", run_dir / "best.weights.h5")  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", checkpoint: Path | None = None,
                 target: Any = None) -> None:
        super().__init__()
        self.target = target
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.best_epoch: int | None = None  # 1-based
        self.best_metrics: dict[str, float] = {}
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keep this epoch when it beats the best so far (epochs with NaN metrics never do)."""
        logs = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, float | int)}
        if any(not math.isfinite(v) for v in logs.values()):
            return
        score = logs.get(self.monitor, logs.get("loss"))
        best = self.best_metrics.get(self.monitor, self.best_metrics.get("loss", math.inf))
        if score is None or (self.best_epoch is not None and not score < best):
            return
        self.best_epoch, self.best_metrics = epoch + 1, dict(logs)
        model = self.target if self.target is not None else self.model
        self.best_weights = [np.array(w) for w in model.get_weights()]
        if self.checkpoint is not None:
            atomic_write_with(self.checkpoint, model.save_weights, suffix=".weights.h5")
