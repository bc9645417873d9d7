"""Warm spare workers on this host: started ahead, so a run's first point comes in a second.

A cold worker spends seconds importing TensorFlow and Keras (tens of seconds on a loaded
box) before it reads a byte of data. A *spare* (``python -m dashcore.jobs.spare``, see
:mod:`dashcore.jobs.spare`) has done that already, loaded the built-in datasets and run a
tiny warm-up fit, and then waits, blocked on a FIFO (no CPU), for a run. The dispatcher
hands a run to a spare by writing its id into the FIFO; the spare then trains that one run
exactly as a cold worker would (:func:`dashcore.jobs.worker.run_job`) and exits, so runs
stay isolated and Stop, kill, restart recovery and the job time limit work unchanged (a
sweep whose trials share a worker is the one exception: see ``SweepPlan.same_worker``).

Files in ``settings.spares_dir`` (one folder per host):

- ``<pid>.json``: the spare's record, written by whoever started it: pid, process identity,
  the fingerprint of the settings and code it was started with, its log.
- ``<pid>.ready``: the FIFO, made by the spare once it is warm. Renaming it to
  ``<pid>.claimed`` is how one dispatcher, and only one, takes that spare.

Spares belong to the server, not to a person: they are started only for people who may
train (a visitor's visit starts none), at most ``min(spares, concurrent_jobs)`` per host,
within ``spare_mb`` of memory, and an unused one exits after ``spare_idle_minutes``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dashcore.access.auth import User, can
from dashcore.atomic import atomic_write_json
from dashcore.jobs.local import adopt, process_env, process_identity, spawn
from dashcore.settings import Settings
from dashcore.store.runs import RunRecord

PACKAGE = Path(__file__).resolve().parents[1]
DEFAULT_SPARE_MB = 900  # what a spare is assumed to hold before one has been measured
_started: dict[int, subprocess.Popen] = {}  # spares this process started (to reap them)


@dataclass(frozen=True)
class Spare:
    """One spare worker on this host, as its record and FIFO say."""

    pid: int
    identity: float | None
    fingerprint: str
    started: float
    log: str
    ready: bool  # warm and waiting (its FIFO exists)


# ---------------------------------------------------------------- what a spare must match


def code_stamp() -> str:
    """Changes whenever a file of the package changes: a spare started before an upgrade
    must not train with the old code."""
    digest = hashlib.sha1()
    for path in sorted(PACKAGE.rglob("*.py")):
        with contextlib.suppress(OSError):
            info = path.stat()
            digest.update(f"{path.relative_to(PACKAGE)}:{info.st_mtime_ns}:{info.st_size};"
                          .encode())
    return digest.hexdigest()[:16]


def fingerprint(settings: Settings) -> str:
    """What a spare was started with: the settings a worker sees, the interpreter, the
    backend and devices, and the code. A run is handed only to a spare that matches."""
    given = process_env(settings)  # what a spare started now sees, from whichever process
    env = {key: value for key, value in given.items() if key.startswith("DASHCORE_")}
    for key in ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL"):
        env[key] = given.get(key, "")
    text = json.dumps({"env": env, "python": sys.executable, "package": str(PACKAGE),
                       "code": code_stamp()}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def wanted(settings: Settings) -> int:
    """How many spares this host keeps: ``spares``, but never more than can run at once."""
    return max(0, min(settings.spares, settings.concurrent_jobs))


# ---------------------------------------------------------------- the folder


def record_path(settings: Settings, pid: int) -> Path:
    return settings.spares_dir / f"{pid}.json"


def ready_path(settings: Settings, pid: int) -> Path:
    return settings.spares_dir / f"{pid}.ready"


def claimed_path(settings: Settings, pid: int) -> Path:
    return settings.spares_dir / f"{pid}.claimed"


def _forget(settings: Settings, pid: int) -> None:
    """Remove a spare's files (it has exited, or it has become a run's worker)."""
    for path in (record_path(settings, pid), ready_path(settings, pid),
                 claimed_path(settings, pid)):
        with contextlib.suppress(OSError):
            path.unlink()


def _reap() -> None:
    """Collect the exit status of spares this process started that have exited idle."""
    for pid, proc in list(_started.items()):
        if proc.poll() is not None:
            _started.pop(pid, None)


def list_spares(settings: Settings) -> list[Spare]:
    """The live spares of this host, oldest first; records of dead ones are removed."""
    folder = settings.spares_dir
    if not folder.is_dir():
        return []
    _reap()
    spares = []
    for path in folder.glob("*.json"):
        try:
            data = json.loads(path.read_text())
            pid = int(data["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written or damaged: its spare, if alive, still has its FIFO
        identity = process_identity(pid)
        if identity is None or data.get("identity") not in (None, identity):
            _forget(settings, pid)  # it exited (or was killed) and its pid may be reused
            continue
        spares.append(Spare(pid=pid, identity=data.get("identity"),
                            fingerprint=str(data.get("fingerprint")),
                            started=float(data.get("started") or 0.0),
                            log=str(data.get("log") or ""),
                            ready=ready_path(settings, pid).exists()))
    return sorted(spares, key=lambda spare: spare.started)


def resident_mb(pid: int) -> float:
    """Memory a process holds (resident set), in MB; 0 when unknown."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.contextmanager
def _folder_lock(settings: Settings) -> Iterator[bool]:
    """This host's spare folder, one process at a time; yields False when another holds it
    (topping up is then that one's job)."""
    folder = settings.spares_dir
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- talking to a spare


def _send(fifo: Path, message: str) -> bool:
    """Write one line to a spare's FIFO; False when nobody reads it (the spare is gone)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader; ENOENT: gone
        return False
    try:
        return os.write(fd, message.encode()) == len(message.encode())
    except OSError:
        return False
    finally:
        os.close(fd)


def claim(run_id: str, settings: Settings) -> tuple[int, float | None] | None:
    """Hand ``run_id`` to a ready spare of this host; returns its (pid, identity), or
    ``None`` when none is ready (the caller then starts a worker the cold way).

    Spares started with other settings or older code are told to exit instead.
    """
    mine = fingerprint(settings)
    for spare in list_spares(settings):
        if not spare.ready:
            continue
        ready, claimed = ready_path(settings, spare.pid), claimed_path(settings, spare.pid)
        try:
            os.rename(ready, claimed)  # atomic: exactly one dispatcher wins a spare
        except OSError:
            continue  # another dispatcher took it, or it is retiring
        if spare.fingerprint != mine:
            _send(claimed, "exit\n")
            continue
        if not _send(claimed, f"run {run_id}\n"):
            _forget(settings, spare.pid)
            continue
        with contextlib.suppress(OSError):
            record_path(settings, spare.pid).unlink()  # a run's worker now, not a spare
        proc = _started.pop(spare.pid, None)
        if proc is not None:
            adopt(proc)  # this process reaps it and learns how it ended
        return spare.pid, spare.identity
    return None


def top_up(settings: Settings, *, on_ray_host: bool = False) -> int:
    """Start spares in the background until this host has as many as it keeps (within
    the memory budget); returns how many were started. Cheap when there are enough.
    On the Ray backend only a job's entrypoint on its cluster host starts them
    (``on_ray_host``, :mod:`dashcore.jobs.ray_entry`): the app servers and the workers
    themselves start none."""
    if wanted(settings) <= 0 or (settings.backend != "local" and not on_ray_host):
        return 0
    with _folder_lock(settings) as mine:
        if not mine:
            return 0
        current = fingerprint(settings)
        spares = list_spares(settings)
        matching = [s for s in spares if s.fingerprint == current]
        held = sum(resident_mb(s.pid) for s in spares)
        one = max([resident_mb(s.pid) for s in spares if s.ready] or [DEFAULT_SPARE_MB])
        started = 0
        while len(matching) + started < wanted(settings) and held + one <= settings.spare_mb:
            start_spare(settings, current)
            held += one
            started += 1
        return started


def keep_ready_for(user: User | None, settings: Settings) -> int:
    """Top up this host's spares for someone about to train (the /train page); a visitor
    or a read-only demo user starts none. Returns how many were started."""
    if user is not None and not can(user, "train"):
        return 0
    try:
        return top_up(settings)
    except OSError:
        return 0  # e.g. a read-only data folder: runs start cold, as before


def start_spare(settings: Settings, stamp: str | None = None) -> int:
    """Start one spare (``python -m dashcore.jobs.spare``) detached; returns its pid."""
    folder = settings.spares_dir
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"spare-{time.time_ns()}.log"
    proc = spawn(["dashcore.jobs.spare", str(log)], log, settings)
    _started[proc.pid] = proc
    atomic_write_json(record_path(settings, proc.pid), {
        "pid": proc.pid, "identity": process_identity(proc.pid), "started": time.time(),
        "fingerprint": stamp or fingerprint(settings), "log": str(log)})
    return proc.pid


def retire(settings: Settings) -> int:
    """Tell every idle spare of this host to exit (tests, a settings change); returns how
    many were told. A spare still warming up exits when it is ready."""
    told = 0
    for spare in list_spares(settings):
        claimed = claimed_path(settings, spare.pid)
        if spare.ready:
            try:
                os.rename(ready_path(settings, spare.pid), claimed)
            except OSError:
                continue
            told += _send(claimed, "exit\n")
        with contextlib.suppress(OSError):
            record_path(settings, spare.pid).unlink()  # a warming one finds it gone
    return told


# ---------------------------------------------------------------- what pages say


def cold_start_estimate(runs: list[RunRecord]) -> float | None:
    """Seconds a cold worker took to take a run here lately (median of the last five), or
    ``None`` before the first."""
    waits = []
    for run in sorted(runs, key=lambda r: r.created, reverse=True):
        summary = run.summary or {}
        if summary.get("worker") != "cold":
            continue
        for row in summary.get("phases") or []:
            if row.get("phase") == "waiting for a worker":
                waits.append(float(row.get("s") or 0.0))
        if len(waits) >= 5:
            break
    return sorted(waits)[len(waits) // 2] if waits else None
