"""Where a run's time goes before and during training: its phases and their durations.

A person who presses Train and watches nothing wants to know why. A run goes through
"waiting for a worker" (a warm spare takes it at once; a cold worker first imports the
libraries), "loading data", "compiling" (building the model, compiling it and tracing the
first training step: until the first live point) and "training", then "testing".
:class:`PhaseClock` times them; :class:`PhaseSink` adds them to every progress update, so
the live panel shows them, and the pipeline writes them on the model card.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dashcore.training.sinks import TrainingSink

WAITING = "waiting for a worker"
LOADING = "loading data"
COMPILING = "compiling"
TRAINING = "training"
FINISHING = "testing"


class PhaseClock:
    """The phases a run has been through, each with when it began (wall-clock seconds).

    Args:
        on_change: called with :meth:`summary` whenever a phase begins (the worker writes
            it to the run store). Defaults to nothing.
        clock: seconds since the epoch; injectable for tests. Defaults to ``time.time``
            (wall clock, so a phase begun in another process, e.g. the dispatcher's
            "waiting for a worker", can be continued here).

    Example:
        >>> phases = PhaseClock()
        >>> phases.enter("loading data"); phases.enter("compiling")
        >>> [p["phase"] for p in phases.summary()]
        ['loading data', 'compiling']
    """

    def __init__(self, on_change: Callable[[list[dict[str, Any]]], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.on_change = on_change
        self.clock = clock
        self._begun: list[tuple[str, float]] = []
        self._ended: float | None = None

    @property
    def current(self) -> str | None:
        """The phase under way (``None`` before the first)."""
        return self._begun[-1][0] if self._begun else None

    def enter(self, name: str, at: float | None = None) -> None:
        """Begin phase ``name`` now (or at ``at``), ending the one before it."""
        self._begun.append((name, self.clock() if at is None else at))
        self._ended = None
        if self.on_change is not None:
            self.on_change(self.summary())

    def end(self) -> None:
        """End the last phase (the run is over)."""
        self._ended = self.clock()

    def summary(self) -> list[dict[str, Any]]:
        """``[{"phase": name, "s": seconds, "done": bool}, …]``; the phase under way counts
        up to now."""
        now = self.clock() if self._ended is None else self._ended
        rows = []
        for index, (name, begun) in enumerate(self._begun):
            last = index + 1 == len(self._begun)
            until = now if last else self._begun[index + 1][1]
            rows.append({"phase": name, "s": round(max(0.0, until - begun), 2),
                         "done": not last or self._ended is not None})
        return rows


class PhaseSink:
    """Passes metrics on to ``sink`` with the phases added to every progress update; the
    first per-batch point begins "training" (everything before it was compiling)."""

    def __init__(self, sink: TrainingSink, phases: PhaseClock) -> None:
        self.sink = sink
        self.phases = phases

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Forward per-batch points; the first one ends compiling."""
        if self.phases.current != TRAINING:
            self.phases.enter(TRAINING)
        self.sink.batches(points, {**progress, "phases": self.phases.summary()})

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """Forward an epoch's metrics."""
        self.sink.epoch(point, {**progress, "phases": self.phases.summary()})


def describe_phases(phases: list[dict[str, Any]] | None) -> str:
    """``waiting for a worker 0.1 s · loading data 0.4 s · compiling 0.9 s · training 12 s``
    (the phase under way ends in "…")."""
    parts = []
    for row in phases or []:
        try:
            seconds = float(row.get("s") or 0.0)
        except (TypeError, ValueError, AttributeError):
            continue  # a damaged record: leave that phase out
        shown = f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
        parts.append(f"{row.get('phase')} {shown}{'' if row.get('done') else '…'}")
    return " · ".join(parts)
