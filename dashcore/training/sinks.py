"""Where live metrics go: the :class:`TrainingSink` protocol and a sink that drops them."""

from __future__ import annotations

from typing import Any, Protocol


class TrainingSink(Protocol):
    """Where :class:`LiveMetrics` sends what it sees (a store, a list, a terminal…)."""

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Per-batch points (throttled) and the current progress."""

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """One finished (or stopped-early) epoch's metrics."""


class NullSink:
    """A sink that drops everything: for scripts that only want the outcome."""

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Ignore per-batch points."""

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """Ignore epoch points."""


class TeeSink:
    """Sends everything to several sinks in turn (the run store and TensorBoard, say)."""

    def __init__(self, *sinks: TrainingSink) -> None:
        self.sinks = sinks

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Forward per-batch points to every sink."""
        for sink in self.sinks:
            sink.batches(points, progress)

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """Forward an epoch's metrics to every sink."""
        for sink in self.sinks:
            sink.epoch(point, progress)
