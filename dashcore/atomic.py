"""Atomic file writes: readers see the old file or the new one, never half of one.

Keras's own ``save_model`` writes in place, so a crash or a full disk mid-save
would corrupt the previous model. Everything the workbench persists goes through here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write_with(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)`` for a temp file beside ``path``, then move it into place.

    ``suffix`` keeps the extension writers such as Keras insist on (``.keras``, ``.h5``).
    On any error the temp file is removed and the old ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix,
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write raw bytes atomically."""
    atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write JSON (pretty, UTF-8) atomically."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    atomic_write_bytes(path, text.encode("utf-8"))
