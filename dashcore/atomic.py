"""Atomic file writes: readers see the old file or the new one, never half of one.

Keras's own ``save_model`` writes in place, so a crash or a full disk mid-save
would corrupt the previous model. Everything the workbench persists goes through here.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashcore.errors import UserError

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFull(UserError):
    """The disk (or the user's quota) filled up while a file was written; the old file,
    if any, is untouched."""


def _out_of_space(exc: BaseException | None) -> bool:
    """True if ``exc`` or an exception it was raised from is "no space left on device"."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def atomic_write_with(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)`` for a temp file beside ``path``, then move it into place.

    ``suffix`` keeps the extension writers such as Keras insist on (``.keras``, ``.h5``).
    On any error the temp file is removed and the old ``path`` is untouched; a full disk
    raises :class:`DiskFull` with a sentence saying so.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix,
                                        dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except Exception as exc:
        if _out_of_space(exc) and not isinstance(exc, DiskFull):
            kept = "the previous version is kept unchanged" if path.exists() else \
                "nothing was written"
            raise DiskFull(f"The disk is full: {path.name} could not be saved, so {kept}. "
                           f"Free some space in {path.parent} and try again.") from exc
        raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write raw bytes atomically."""
    atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write JSON (pretty, UTF-8) atomically."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    atomic_write_bytes(path, text.encode("utf-8"))
