"""TensorBoard event files written by hand: no TensorFlow, no ``tensorboard`` package.

An event file is a TFRecord file (each record framed by its length and masked CRC-32C
checksums) of ``Event`` protocol buffers; the few fields a scalar needs are encoded here
directly (:func:`scalar_event`), and :func:`read_records` reads the framing back.
"""

from __future__ import annotations

import math
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord framing uses."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked checksum: CRC-32C rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """One TFRecord: length, its checksum, the bytes, their checksum."""
    length = struct.pack("<Q", len(record))
    return (length + struct.pack("<I", masked_crc(length)) + record
            + struct.pack("<I", masked_crc(record)))


def read_records(stream: BinaryIO) -> Iterator[bytes]:
    """The records of a TFRecord file, checksums verified (a torn last record ends it)."""
    while True:
        header = stream.read(12)
        if len(header) < 12:
            return
        length, length_crc = struct.unpack("<QI", header)
        if masked_crc(header[:8]) != length_crc:
            raise ValueError("corrupt TFRecord length")
        record, footer = stream.read(length), stream.read(4)
        if len(record) < length or len(footer) < 4:
            return
        if masked_crc(record) != struct.unpack("<I", footer)[0]:
            raise ValueError("corrupt TFRecord data")
        yield record


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def event(wall_time: float, step: int = 0, *, file_version: str | None = None,
          summary: bytes | None = None) -> bytes:
    """An ``Event`` message: wall_time (field 1, double), step (2, int64), file_version
    (3, string) or summary (5, message)."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time)
    if step:
        out += _varint(2 << 3 | 0) + _varint(int(step))
    if file_version is not None:
        out += _field_bytes(3, file_version.encode("utf-8"))
    if summary is not None:
        out += _field_bytes(5, summary)
    return out


def scalar_summary(values: dict[str, float]) -> bytes:
    """A ``Summary`` of ``Value``s: tag (field 1, string) and simple_value (2, float)."""
    return b"".join(
        _field_bytes(1, _field_bytes(1, tag.encode("utf-8"))
                     + _varint(2 << 3 | 5) + struct.pack("<f", float(value)))
        for tag, value in values.items())


def scalar_event(step: int, values: dict[str, float], wall_time: float | None = None
                 ) -> bytes:
    """One step's scalars as a serialised ``Event``."""
    return event(time.time() if wall_time is None else wall_time, step,
                 summary=scalar_summary(values))


class TensorBoardScalars:
    """Writes scalars as TensorBoard event files.

    Layout matches Keras's TensorBoard callback: ``<log_dir>/train`` and
    ``<log_dir>/validation``, tags ``epoch_loss``, ``epoch_accuracy``, ``batch_loss``….
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._files: dict[str, Any] = {}

    def _file(self, split: str) -> Any:
        if split not in self._files:
            folder = self.log_dir / split
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
            stream = open(path, "ab")  # noqa: SIM115 - kept open until close()
            stream.write(frame(event(time.time(), file_version="brain.Event:2")))
            self._files[split] = stream
        return self._files[split]

    def scalars(self, split: str, step: int, values: dict[str, float]) -> None:
        """Write one step's scalars (e.g. ``{"epoch_loss": 0.1}``) under ``split``."""
        finite = {tag: float(value) for tag, value in values.items()
                  if value is not None and math.isfinite(value)}
        self._file(split).write(frame(scalar_event(step, finite)))

    def flush(self) -> None:
        """Make everything written so far visible to TensorBoard."""
        for stream in self._files.values():
            stream.flush()

    def close(self) -> None:
        """Flush and close every file."""
        for stream in self._files.values():
            stream.close()
        self._files.clear()


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
