"""TensorBoard event files written without the ``tensorboard`` package."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any


class TensorBoardScalars:
    """Writes scalars as TensorBoard event files without the ``tensorboard`` package.

    ``tf.summary`` needs the ``tensorboard`` package installed; the event format itself is
    just TFRecord-framed ``Event`` protocol buffers, which TensorFlow writes on its own.
    Layout matches Keras's TensorBoard callback: ``<log_dir>/train`` and
    ``<log_dir>/validation``, tags ``epoch_loss``, ``epoch_accuracy``, ``batch_loss``….
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def _writer(self, split: str) -> Any:
        if split not in self._writers:
            import socket

            import tensorflow as tf
            from tensorflow.core.util import event_pb2

            folder = self.log_dir / split
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
            writer = tf.io.TFRecordWriter(str(path))
            writer.write(event_pb2.Event(wall_time=time.time(),
                                         file_version="brain.Event:2").SerializeToString())
            self._writers[split] = writer
        return self._writers[split]

    def scalars(self, split: str, step: int, values: dict[str, float]) -> None:
        """Write one step's scalars (e.g. ``{"epoch_loss": 0.1}``) under ``split``."""
        from tensorflow.core.framework import summary_pb2
        from tensorflow.core.util import event_pb2

        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
            for tag, value in values.items() if value is not None and math.isfinite(value)])
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        self._writer(split).write(event.SerializeToString())

    def flush(self) -> None:
        """Make everything written so far visible to TensorBoard."""
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        """Flush and close every file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class TensorBoardSink:
    """A :class:`~dashcore.training.sinks.TrainingSink` that mirrors live metrics into
    TensorBoard event files, with the tag names Keras's TensorBoard callback uses."""

    _POINT_KEYS = frozenset({"step", "epoch", "batch", "x", "t", "duration_s", "partial"})

    def __init__(self, scalars: TensorBoardScalars) -> None:
        self.scalars = scalars

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Per-batch points as ``batch_<metric>`` on the train writer, by step."""
        for point in points:
            self.scalars.scalars("train", point["step"], {
                f"batch_{k}": v for k, v in point.items() if k not in self._POINT_KEYS})

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """Epoch metrics as ``epoch_<metric>``, validation ones on their own writer."""
        metrics = {k: v for k, v in point.items() if k not in self._POINT_KEYS}
        self.scalars.scalars("train", point["epoch"], {
            f"epoch_{k}": v for k, v in metrics.items() if not k.startswith("val_")})
        self.scalars.scalars("validation", point["epoch"], {
            f"epoch_{k[4:]}": v for k, v in metrics.items() if k.startswith("val_")})
        self.scalars.flush()
