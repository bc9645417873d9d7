"""Callbacks that end training early and say why: a Stop request, a loss that diverged, or
the server's job time limit.

Each records where it stopped (``stopped_at``, 1-based epoch and batch) so the run's
outcome can say so in words; :func:`dashcore.training.pipeline.train_in_process` reads them
after ``fit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras


class StopOnRequest(keras.callbacks.Callback):
    """Ends training after the current batch once ``should_stop()`` returns True.

    The worker's ``should_stop`` reads the run store's Stop flag (and SIGTERM), so a person
    pressing Stop halts training within a batch.

    Args:
        should_stop: polled after every batch.

    Example:
        >>> stop = StopOnRequest(lambda: store.stop_requested(run_id))  # doctest: +SKIP
    """

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop
        self.stop_requested = False  # True once Stop was seen
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch) when cut mid-epoch
        self._epoch = 0
        self._steps: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Learn the steps per epoch (to tell a mid-epoch stop from an epoch's end)."""
        self._steps = (self.params or {}).get("steps")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch, for ``stopped_at``."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Poll the flag; on Stop, end training after this batch."""
        if self.stop_requested or not self.should_stop():
            return
        self.stop_requested = True
        if self._steps is None or batch + 1 < int(self._steps):
            self.stopped_at = (self._epoch + 1, batch + 1)
        self.model.stop_training = True


class StopOnNaN(keras.callbacks.Callback):
    """Ends training when the loss (per batch) or any epoch metric stops being a number.

    Keras's ``TerminateOnNaN`` does the same silently; this one keeps a sentence saying what
    diverged, where, and what to change, for the run's failure reason.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failure: str | None = None  # the sentence, once training diverged
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch), 1-based
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch, for the sentence."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """A non-finite batch loss fails the run at once."""
        loss = (logs or {}).get("loss")
        if self.failure is None and loss is not None and not math.isfinite(loss):
            self.failure = (f"The loss became {loss} (not a number) in epoch {self._epoch + 1}, "
                            f"batch {batch + 1}: training diverged. Lower the learning rate "
                            "(try 10× smaller) or use Adam.")
            self.stopped_at = (self._epoch + 1, batch + 1)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """A non-finite epoch metric (e.g. the validation loss) fails the run too."""
        if self.failure is not None:
            return
        bad = [k for k, v in (logs or {}).items()
               if isinstance(v, float | int) and not math.isfinite(v)]
        if bad:
            self.failure = (f"{bad[0]} became not-a-number in epoch {epoch + 1}: training "
                            "diverged. Lower the learning rate (try 10× smaller).")
            self.model.stop_training = True


class StopAtTimeLimit(keras.callbacks.Callback):
    """Ends training after the first batch that finishes past the job time limit.

    A shared server's budget per run (``DASHCORE_JOB_MAX_MINUTES``): the run then ends
    exactly as a Stop does, so the model so far is tested and saved. The clock starts
    when training begins (data preparation and building are not counted).

    Args:
        max_seconds: the limit; ``None`` (or 0 or less) means no limit.
        clock: seconds as a float; injectable for tests. Defaults to ``time.monotonic``.
    """

    def __init__(self, max_seconds: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.max_seconds = max_seconds if max_seconds and max_seconds > 0 else None
        self.clock = clock
        self.time_limit_hit = False  # True once the limit ended training
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch) when cut mid-epoch
        self._start = 0.0
        self._epoch = 0
        self._steps: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start the clock; learn the steps per epoch."""
        self._start = self.clock()
        self._steps = (self.params or {}).get("steps")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch, for ``stopped_at``."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Past the limit: end training after this batch."""
        if (self.max_seconds is None or self.time_limit_hit
                or self.clock() - self._start < self.max_seconds):
            return
        self.time_limit_hit = True
        if self._steps is None or batch + 1 < int(self._steps):
            self.stopped_at = (self._epoch + 1, batch + 1)
        self.model.stop_training = True
