"""The Keras callback that forwards per-batch and per-epoch metrics to a sink."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras

from dashcore.training.config import count_steps
from dashcore.training.sinks import TrainingSink


class LiveMetrics(keras.callbacks.Callback):
    """Forwards training metrics to a sink while the model trains.

    Per batch it records at most one point every ``interval_s`` seconds (plus the run's
    first batch and each epoch's last), so a fast model does not flood the store. Each
    point holds the *mean over the batches since the previous point*, recovered from
    Keras's running epoch means, so the curve is not smeared by the epoch average. Per
    epoch it forwards every metric, marking an epoch cut short (by Stop or a divergence)
    as partial. Stopping, divergence and the best weights are other callbacks'
    jobs (:mod:`dashcore.training.stopping`, :mod:`dashcore.training.best_weights`).

    Compiling is its own phase (:mod:`dashcore.training.phases` ends it at the first
    point); the first epoch's ``duration_s`` leaves the compile time out and its point
    carries it as ``compile_s`` (the first call's time less a typical call's). With
    ``steps_per_execution`` above 1 Keras calls back once per execution; ``batch`` is then
    the execution's last batch.

    Args:
        sink: receives points and progress (see :class:`TrainingSink`).
        train_samples: training images per epoch (to convert batches to samples).
        batch_size: images per batch.
        interval_s: seconds between per-batch points. Defaults to 0.5.
        clock: seconds as a float; injectable for tests. Defaults to ``time.monotonic``.

    Example:
        >>> callback = LiveMetrics(NullSink(), train_samples=300, batch_size=100)
        >>> model.fit(x, y, batch_size=100, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, sink: TrainingSink, *, train_samples: int, batch_size: int,
                 interval_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.sink = sink
        self.train_samples = int(train_samples)
        self.batch_size = int(batch_size)
        self.interval_s = float(interval_s)
        self.clock = clock
        self.steps_per_epoch = count_steps(self.train_samples, self.batch_size)
        self.epochs = 1
        # What happened (read by train_in_process after fit):
        self.epochs_done = 0  # epochs completed in full
        self.last_metrics: dict[str, float] = {}
        self.batches_done = 0
        self.device = "CPU"  # what the compiling phase says it prepares ("GPU" or "CPU")
        self.first_call_s: float | None = None  # fit start → first batch end: compile + 1 call
        self.compile_s: float | None = None  # first_call_s less a typical call (1st epoch end)
        self._start = 0.0
        self._first_call_end: float | None = None
        self._first_epoch: int | None = None
        self._calls_in_epoch = 0
        self._done_before_epoch = 0
        self._first_call_samples = 0
        self._first_call_batches = 0
        self._last_call_end = 0.0
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
        """Counters, speed and time left, for the progress bar (batch is 0-based).

        Speed and time left are measured after the first call, so compiling does not
        make the run look slow.
        """
        elapsed = now - self._start
        after_compile = self._first_call_end if self._epoch == self._first_epoch else None
        since = after_compile if after_compile is not None else self._epoch_start
        done_in_epoch = self._samples_after(batch) if batch is not None else 0
        if after_compile is not None:
            done_in_epoch -= self._first_call_samples
        epoch_elapsed = now - since
        rate = done_in_epoch / epoch_elapsed if epoch_elapsed > 0 and done_in_epoch > 0 \
            else None
        total_steps = self.steps_per_epoch * self.epochs
        timed = self.batches_done - (self._first_call_batches if self._first_call_end else 0)
        eta = ((now - (self._first_call_end or self._start)) / timed
               * (total_steps - self.batches_done) if timed > 0 else None)
        progress = {"epoch": self._epoch + 1, "epochs": self.epochs,
                    "batch": (batch + 1) if batch is not None else 0,
                    "steps": self.steps_per_epoch, "samples_per_s": rate,
                    "eta_s": max(0.0, eta) if eta is not None else None,
                    "elapsed_s": elapsed, "phase": phase, "device": self.device,
                    "fraction": min(1.0, self.batches_done / total_steps)
                    if total_steps else 0.0}
        if self.first_call_s is not None:
            progress["compile_s"] = self.compile_s if self.compile_s is not None \
                else self.first_call_s
        return progress

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
        self.first_call_s = self.compile_s = self._first_call_end = self._first_epoch = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Reset the per-epoch window (Keras resets its running means here too)."""
        self._epoch = epoch
        if self._first_epoch is None:
            self._first_epoch = epoch
        self._epoch_start = self.clock()
        self._calls_in_epoch = 0
        self._done_before_epoch = self.batches_done
        self._last_batch = None
        self._last_samples = 0
        self._last_means = {}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Record a throttled point (not for a batch whose loss is not a number)."""
        logs = logs or {}
        batch = min(int(batch), self.steps_per_epoch - 1)  # a last, shorter execution
        self.batches_done = self._done_before_epoch + batch + 1
        self._last_batch = batch
        self._calls_in_epoch += 1
        now = self.clock()
        if self._first_call_end is None:
            self._first_call_end, self.first_call_s = now, now - self._start
            self._first_call_samples = self._samples_after(batch)
            self._first_call_batches = self.batches_done
        self._last_call_end = now
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            return  # nothing to plot; StopOnNaN ends the run with a sentence
        last_in_epoch = batch + 1 >= self.steps_per_epoch
        if (self.batches_done == self._first_call_batches or last_in_epoch
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

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Forward the epoch's metrics; an epoch cut short is marked partial."""
        logs = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, float | int)}
        now = self.clock()
        partial = self._last_batch is not None and self._last_batch + 1 < self.steps_per_epoch
        if not partial:
            self.epochs_done = epoch + 1
        x = epoch + (self._last_batch + 1) / self.steps_per_epoch if partial else epoch + 1
        duration = now - self._epoch_start
        point = {"epoch": epoch + 1, "x": x, "t": now - self._start,
                 "duration_s": duration, "partial": partial, **logs}
        if epoch == self._first_epoch and self.first_call_s is not None:
            later_calls = self._calls_in_epoch - 1
            typical = ((self._last_call_end - self._first_call_end) / later_calls
                       if later_calls > 0 else 0.0)
            self.compile_s = max(0.0, self.first_call_s - typical)
            point["compile_s"] = self.compile_s
            point["duration_s"] = max(0.0, duration - self.compile_s)
        self.last_metrics = logs
        self.sink.epoch(point, self._progress(self._last_batch, now, "training"))
