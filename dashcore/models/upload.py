"""Importing an untrusted model file into the registry, safely.

Uploading a model is the most dangerous thing a user can do here: a Keras file is a
program description, and ``safe_mode=True`` is not a sandbox (several CVEs bypassed it
through ``config.json`` or legacy ``.h5``). So an upload goes through, in order:

1. the file name (``.keras`` or ``.h5`` only, no folders) and the size limit;
2. the bytes are written to a quarantine folder under ``settings.uploads_dir`` (never
   under the user's name);
3. the archive is inspected *without loading it*: the model config is parsed as JSON and
   any Lambda layer, custom object or class outside Keras's own layers, initializers,
   regularizers, constraints and dtype policies is refused (arbitrary-code risk);
4. a separate Python process (:mod:`dashcore.models.checker`) loads it with
   ``safe_mode=True`` under a wall-clock time limit and an address-space limit, checks
   the input and output shapes, runs one forward pass and re-saves it as a clean
   ``.keras`` (an ``.h5`` becomes ``.keras`` here);
5. only then is that clean file moved into the registry, atomically, with its card.

On any failure nothing is written to the registry and the quarantine folder is removed.
Each refusal is an :class:`UploadRefused` with a ``code`` tests and pages can rely on.

Example:
    >>> entry = import_model(uploaded.getvalue(), uploaded.name,  # doctest: +SKIP
    ...                      settings=settings)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.limited import child_env
from dashcore.models.archive_check import (
    UNPACKED_FACTOR,
    UploadRefused,
    check_filename,
    check_size,
    inspect_archive,
    not_a_model,
    sniff_format,
)
from dashcore.models.registry import (
    MAX_MODEL_NAME,
    ModelEntry,
    check_model_id,
    new_model_id,
    store_model_file,
)
from dashcore.settings import Settings
from dashcore.text import check_name

# ---------------------------------------------------------------- the child process

# The child process imports TensorFlow, which reserves ~2.2 GB of virtual address space
# before doing anything (measured here: VmPeak 2.2 GB, RSS 0.7 GB for a small CNN; it
# aborts with bad_alloc under a 2 GB limit and loads fine under 3 GB). 4 GB leaves
# ~1.8 GB for the model itself: ample for the 100 MB upload limit, small enough that a
# hostile file cannot exhaust a shared server.
CHECK_MEMORY_MB = 4096  # RLIMIT_AS of the checker process, in megabytes
CHECK_TIMEOUT_S = 120.0  # wall-clock limit of the checker, in seconds (cold TF import ~5-9 s)
CHECK_CPU_S = 240  # RLIMIT_CPU backstop of the checker, in CPU seconds
STALE_QUARANTINE_S = 3600.0  # quarantine folders older than this (seconds) are leftovers

_check_slots = threading.Semaphore(1)  # one checker (≈1 core, ≤4 GB) at a time per server



def run_checker(src: Path, out: Path, limit_mb: int, timeout_s: float = CHECK_TIMEOUT_S,
                memory_mb: int = CHECK_MEMORY_MB) -> dict[str, Any]:
    """Load ``src`` in a separate, limited process; returns its report (``ok`` True).

    The child sets its own resource limits before importing TensorFlow (``preexec_fn``
    is unsafe in a threaded server) and runs in its own session so a timeout kills it and
    anything it started.
    """
    result = out.with_name("result.json")
    tmp_dir = src.parent / "tmp"  # the child's temporary files: inside the quarantine
    tmp_dir.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "dashcore.models.checker", str(src), str(out), str(result),
               "--memory-mb", str(memory_mb), "--cpu-s", str(CHECK_CPU_S),
               "--file-mb", str(limit_mb * UNPACKED_FACTOR), "--limit-mb", str(limit_mb),
               "--tmp-dir", str(tmp_dir)]
    with _check_slots:
        proc = subprocess.Popen(command, cwd=str(out.parent), env=child_env(tmp_dir),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise UploadRefused("timeout", f"Loading this model took longer than {timeout_s:.0f}"
                                " s in the safety checker, so it was stopped. Real models of "
                                "this size load in seconds: the file may be hostile or "
                                "enormous. Try a smaller model.") from None
    try:
        report = json.loads(result.read_text("utf-8"))
    except (OSError, ValueError):
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise UploadRefused("crashed", "The safety checker stopped before finishing (exit code "
                            f"{proc.returncode}: {tail[0][:200]}). It may have run out of its "
                            f"{memory_mb} MB memory limit. Try a smaller or simpler model."
                            ) from None
    if not report.get("ok"):
        raise UploadRefused(str(report.get("code", "load_failed")), str(report.get("message")))
    return report


# ---------------------------------------------------------------- the whole import


def _display_name(filename: str, name: str | None) -> str:
    """The typed name, else the file name's stem (cut to fit), each checked like any name."""
    if (name or "").strip():
        return check_name("model", name, MAX_MODEL_NAME)
    stem = Path(filename).stem.strip()[:MAX_MODEL_NAME].strip() or "uploaded model"
    return check_name("model", stem, MAX_MODEL_NAME)


def import_model(data: bytes, filename: str, name: str | None = None,
                 owner: str | None = None, *, settings: Settings,
                 timeout_s: float = CHECK_TIMEOUT_S, memory_mb: int = CHECK_MEMORY_MB,
                 user: User | None = None) -> ModelEntry:
    """Check an uploaded model file and, only if every check passes, add it to the registry.

    Args:
        data: the file's bytes, as uploaded.
        filename: the name the browser sent (only its extension is used; never a path).
        name: display name for the card. Defaults to the file name without extension.
        owner: the signed-in user, recorded on the card (``None`` without accounts).
        settings: where the registry and quarantine live (the entry point read them once).
        timeout_s, memory_mb: limits of the checker process.
        user: the signed-in person (pages pass it): must be allowed to upload, and
            becomes the owner. ``None`` is a trusted caller (a script, a test).

    Raises:
        PermissionDenied: ``user`` may not upload (a visitor, or a read-only demo).
        UploadRefused: with a ``code`` and a message saying what was found and the fix.
    """
    authorize(user, "upload")
    if user is not None:
        owner = user.name
    settings = settings.ensure_dirs()
    limit_mb = settings.limits.upload_mb
    check_filename(filename)
    display_name = _display_name(filename, name)  # before any byte is written
    check_size(len(data), filename, limit_mb)
    check_quota(user, settings, len(data), "this model")
    kind = sniff_format(data[:8])  # by content: a .h5 renamed .keras still works
    if kind is None:  # refuse random bytes before writing anything
        raise not_a_model(filename, data[:8])
    suffix = ".keras" if kind == "keras" else ".h5"
    _sweep_stale(settings.uploads_dir / "quarantine")
    quarantine = settings.uploads_dir / "quarantine" / secrets.token_hex(8)
    quarantine.mkdir(parents=True)
    try:
        src = quarantine / f"upload{suffix}"
        src.write_bytes(data)
        info = inspect_archive(src, limit_mb)  # fast refusals before spawning TensorFlow
        clean = quarantine / "clean" / "model.keras"
        clean.parent.mkdir()
        report = run_checker(src, clean, limit_mb, timeout_s, memory_mb)
        card = {
            "name": display_name,
            "source": "uploaded",
            "original_filename": Path(filename).name,
            "format": info.format,
            "saved_with_keras": info.keras_version,
            "owner": owner,
            "input_shape": report["input_shape"],
            "num_classes": report["num_classes"],
            "params": report["params"],
            "architecture": " → ".join(report["layers"]),
            "output_activation": report.get("output_activation"),
            "sha256": hashlib.sha256(data).hexdigest(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return _register(clean, card, settings)
    finally:
        shutil.rmtree(quarantine, ignore_errors=True)


def _sweep_stale(folder: Path, max_age_s: float = STALE_QUARANTINE_S) -> None:
    """Remove quarantine folders left by a server that died mid-check."""
    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_s
    for child in folder.iterdir():
        try:
            if child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue


def _register(clean: Path, card: dict[str, Any], settings: Settings) -> ModelEntry:
    """Move a checked file into the registry: model file first, then the card."""
    model_id = check_model_id(new_model_id(card["name"]))
    return store_model_file(model_id, lambda tmp: shutil.copyfile(clean, tmp),
                            {**card, "id": model_id}, settings)
