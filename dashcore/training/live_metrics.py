"""The Keras callback that forwards per-batch and per-epoch metrics to a sink."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dashcore.atomic import atomic_write_with
from dashcore.training.config import count_steps
from dashcore.training.sinks import TrainingSink
from dashcore.training.tensorboard import TensorBoardScalars


class LiveMetrics(keras.callbacks.Callback):
    """Forwards training metrics to a sink while the model trains, and obeys Stop.

    Per batch it records at most one point every ``interval_s`` seconds (plus the run's
    first batch and each epoch's last), so a fast model does not flood the store. Each
    point holds the *mean over the batches since the previous point*, recovered from
    Keras's running epoch means, so the curve is not smeared by the epoch average. Per
    epoch it forwards every metric. It checks ``should_stop()`` after every batch, ends
    training on a NaN loss with a plain reason, and keeps the best epoch's weights.

    Args:
        sink: receives points and progress (see :class:`TrainingSink`).
        should_stop: returns True once the user pressed Stop. Defaults to never.
        train_samples: training images per epoch (to convert batches to samples).
        batch_size: images per batch.
        interval_s: seconds between per-batch points. Defaults to 0.5.
        monitor: metric that picks the best epoch. Defaults to ``"val_loss"``.
        checkpoint: where to save the best weights as they improve (``.weights.h5``);
            ``None`` keeps them in memory only.
        tensorboard: optional :class:`TensorBoardScalars` to mirror every point into.
        max_seconds: the job time limit: training stops, like Stop, at the first batch
            that ends this many seconds after training began. ``None`` = no limit.
        clock: seconds as a float; injectable for tests. Defaults to ``time.monotonic``.

    Example:
        >>> callback = LiveMetrics(NullSink(), train_samples=300, batch_size=100)
        >>> model.fit(x, y, batch_size=100, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, sink: TrainingSink, should_stop: Callable[[], bool] | None = None, *,
                 train_samples: int, batch_size: int, interval_s: float = 0.5,
                 monitor: str = "val_loss", checkpoint: Path | None = None,
                 tensorboard: TensorBoardScalars | None = None,
                 max_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.sink = sink
        self.should_stop = should_stop or (lambda: False)
        self.train_samples = int(train_samples)
        self.batch_size = int(batch_size)
        self.interval_s = float(interval_s)
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.tensorboard = tensorboard
        self.max_seconds = max_seconds
        self.clock = clock
        self.steps_per_epoch = count_steps(self.train_samples, self.batch_size)
        self.epochs = 1
        # What happened (read by train_in_process after fit):
        self.stop_requested = False  # the user pressed Stop, or the time limit passed
        self.time_limit_hit = False  # training ran past max_seconds
        self.failure: str | None = None  # a sentence when training had to be abandoned
        self.epochs_done = 0  # epochs completed in full
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch), 1-based, if cut short
        self.best_epoch: int | None = None
        self.best_metrics: dict[str, float] = {}
        self.best_weights: list[np.ndarray] | None = None
        self.last_metrics: dict[str, float] = {}
        self.batches_done = 0
        self._start = 0.0
        self._epoch = 0
        self._epoch_start = 0.0
        self._last_point_time = -math.inf
        self._last_batch: int | None = None
        self._last_samples = 0
        self._last_means: dict[str, float] = {}

    # ---- helpers

    def _samples_after(self, batch: int) -> int:
        return min((batch + 1) * self.batch_size, self.train_samples)

    def _progress(self, batch: int | None, now: float, phase: str) -> dict[str, Any]:
        """Counters, speed and time left, for the progress bar (batch is 0-based)."""
        elapsed = now - self._start
        epoch_elapsed = now - self._epoch_start
        done_in_epoch = self._samples_after(batch) if batch is not None else 0
        rate = done_in_epoch / epoch_elapsed if epoch_elapsed > 0 and done_in_epoch else None
        total_steps = self.steps_per_epoch * self.epochs
        eta = (elapsed / self.batches_done * (total_steps - self.batches_done)
               if self.batches_done else None)
        return {"epoch": self._epoch + 1, "epochs": self.epochs,
                "batch": (batch + 1) if batch is not None else 0,
                "steps": self.steps_per_epoch, "samples_per_s": rate,
                "eta_s": max(0.0, eta) if eta is not None else None,
                "elapsed_s": elapsed, "phase": phase,
                "fraction": min(1.0, self.batches_done / total_steps) if total_steps else 0.0}

    def _window_means(self, samples: int, logs: dict[str, float]) -> dict[str, float]:
        """Mean of each metric over the batches since the previous point.

        Keras reports running means weighted by samples: m_b = Σ/S_b. The mean over
        samples S_a..S_b is therefore (S_b·m_b − S_a·m_a) / (S_b − S_a).
        """
        out: dict[str, float] = {}
        span = samples - self._last_samples
        for key, mean in logs.items():
            if not isinstance(mean, float | int):
                continue
            previous = self._last_means.get(key, 0.0)
            value = (samples * mean - self._last_samples * previous) / span if span else mean
            if "accuracy" in key:
                value = min(1.0, max(0.0, value))
            out[key] = float(value)
        return out

    # ---- Keras hooks

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start the clocks; learn the epoch count and steps per epoch from Keras."""
        self._start = self.clock()
        params = self.params or {}
        self.epochs = int(params.get("epochs") or 1)
        if params.get("steps"):
            self.steps_per_epoch = int(params["steps"])

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Reset the per-epoch window (Keras resets its running means here too)."""
        self._epoch = epoch
        self._epoch_start = self.clock()
        self._last_batch = None
        self._last_samples = 0
        self._last_means = {}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Record a throttled point, catch a NaN loss, and honour Stop."""
        logs = logs or {}
        self.batches_done += 1
        self._last_batch = batch
        now = self.clock()
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.failure = (f"The loss became {loss} (not a number) in epoch {self._epoch + 1}, "
                            f"batch {batch + 1}: training diverged. Lower the learning rate "
                            "(try 10× smaller) or use Adam.")
            self.stopped_at = (self._epoch + 1, batch + 1)
            self.model.stop_training = True
            return
        last_in_epoch = batch + 1 >= self.steps_per_epoch
        if (self.batches_done == 1 or last_in_epoch
                or now - self._last_point_time >= self.interval_s):
            samples = self._samples_after(batch)
            point = {"step": self._epoch * self.steps_per_epoch + batch,
                     "epoch": self._epoch + 1, "batch": batch + 1,
                     "x": self._epoch + (batch + 1) / self.steps_per_epoch,
                     "t": now - self._start, **self._window_means(samples, logs)}
            self._last_samples, self._last_point_time = samples, now
            self._last_means = {k: float(v) for k, v in logs.items()
                                if isinstance(v, float | int)}
            self.sink.batches([point], self._progress(batch, now, "training"))
            if self.tensorboard is not None:
                self.tensorboard.scalars("train", point["step"], {
                    f"batch_{k}": point[k] for k in logs if k in point})
        over_time = self.max_seconds is not None and now - self._start >= self.max_seconds
        if not self.stop_requested and (over_time or self.should_stop()):
            self.stop_requested = True
            self.time_limit_hit = over_time
            if not last_in_epoch:
                self.stopped_at = (self._epoch + 1, batch + 1)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Forward the epoch's metrics, track the best epoch, checkpoint its weights."""
        logs = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, float | int)}
        now = self.clock()
        partial = self.stopped_at is not None and self.stopped_at[0] == epoch + 1
        if not partial:
            self.epochs_done = epoch + 1
        x = (epoch + (self._last_batch + 1) / self.steps_per_epoch
             if partial and self._last_batch is not None else epoch + 1)
        point = {"epoch": epoch + 1, "x": x, "t": now - self._start,
                 "duration_s": now - self._epoch_start, "partial": partial, **logs}
        self.last_metrics = logs
        if self.failure is None:
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                self.failure = (f"{bad[0]} became not-a-number in epoch {epoch + 1}: training "
                                "diverged. Lower the learning rate (try 10× smaller).")
                self.model.stop_training = True
        score = logs.get(self.monitor, logs.get("loss"))
        if (self.failure is None and score is not None
                and (self.best_epoch is None
                     or score < self.best_metrics.get(self.monitor,
                                                      self.best_metrics.get("loss", math.inf)))):
            self.best_epoch, self.best_metrics = epoch + 1, dict(logs)
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
            if self.checkpoint is not None:
                atomic_write_with(self.checkpoint, self.model.save_weights, suffix=".weights.h5")
        self.sink.epoch(point, self._progress(self._last_batch, now, "training"))
        if self.tensorboard is not None:
            self.tensorboard.scalars("train", epoch + 1, {
                f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")})
            self.tensorboard.scalars("validation", epoch + 1, {
                f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")})
            self.tensorboard.flush()


# ---------------------------------------------------------------- the job
