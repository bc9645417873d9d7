"""The local job backend: each run is a detached worker process on this machine.

A backend starts the worker for a run (a :data:`Launcher`) and tells whether it is alive;
the queue in :mod:`dashcore.jobs.queue` does not care how.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from dashcore.settings import Settings
from dashcore.store.runs import (
    RunRecord,
)

# A launcher starts the worker for a run and returns (pid, process identity).
Launcher = Callable[[str, Settings], tuple[int, float | None]]

_children: dict[int, subprocess.Popen] = {}  # workers this process started (to reap them)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- processes


def process_identity(pid: int) -> float | None:
    """A number that identifies one process instance, or ``None`` if it is not running.

    On Linux this is the process start time from ``/proc/<pid>/stat`` (in clock ticks),
    so a recycled pid is not mistaken for our worker; zombies count as not running.
    Elsewhere it falls back to "a process with this pid exists" (``-1``).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return -1.0
        return -1.0
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return float(fields[19])


def identity_matches(now: float, recorded: float | None) -> bool:
    """Whether a running process (identity ``now``) is the one recorded as ``recorded``.

    An unknown side (``None``, or ``-1`` where the OS gives no start time) matches, so
    only a known, different start time says the pid was reused.
    """
    return recorded is None or recorded < 0 or now < 0 or now == recorded


def worker_alive(run: RunRecord) -> tuple[bool, int | None]:
    """(is the run's worker running?, its exit status if this process saw it end).

    The exit status is the Popen return code: negative means killed by that signal.
    """
    if run.pid is None:
        return False, None
    child = _children.get(run.pid)
    if child is not None:
        code = child.poll()  # also reaps it, so it does not linger as a zombie
        if code is not None:
            _children.pop(run.pid, None)
            return False, code
    identity = process_identity(run.pid)
    if identity is None:
        if child is not None:  # it died between poll() and now: collect its exit status
            try:
                code = child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            _children.pop(run.pid, None)
            return False, code
        return False, None
    return identity_matches(identity, run.pid_created), None


def process_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker or spare process: this one's, plus the settings."""
    return {**os.environ, **settings.worker_env(), "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def spawn(module_args: list[str], log_path: Path, settings: Settings) -> subprocess.Popen:
    """Start ``python -m <module_args>`` detached, appending its output to ``log_path``.

    ``start_new_session`` puts it in its own session and process group, so stopping the
    web server (Ctrl-C, a restart) or closing the browser does not stop it.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *module_args], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            env=process_env(settings), cwd=str(_PACKAGE_ROOT))


def adopt(proc: subprocess.Popen) -> None:
    """Watch ``proc`` as a run's worker (a spare this process started that took a run)."""
    _children[proc.pid] = proc


def spawn_worker(run_id: str, settings: Settings) -> tuple[int, float | None]:
    """Start ``python -m dashcore.jobs.worker <run_id>`` detached, logging to the run folder
    (the cold way: it imports TensorFlow and Keras before anything else)."""
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = spawn(["dashcore.jobs.worker", run_id], run_dir / "worker.log", settings)
    adopt(proc)
    return proc.pid, process_identity(proc.pid)
