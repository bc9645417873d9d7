"""Runs without training: tiny configs, a launcher that starts nothing, and waiting helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dashcore.jobs import local, queue
from dashcore.models.specs import ModelSpec
from dashcore.settings import Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import WORKING
from dashcore.store.sqlite import SQLiteRunStore
from dashcore.training.config import TrainConfig

TINY = ModelSpec(name="Tiny dense", layers=[
    {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "relu"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()
QUICK = TrainConfig(architecture=TINY, epochs=1, batch_size=32, max_train_images=300)
# Long enough to be stopped or killed mid-run, however slow the machine.
LONG = TrainConfig(architecture=TINY, epochs=200, batch_size=8, max_train_images=2000,
                   batch_log_interval_s=0.1)


class FakeLauncher:
    """Starts nothing: records what would run, and reports a live process (this one)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def __call__(self, run_id: str, settings: Settings) -> tuple[int, float | None]:
        self.started.append(run_id)
        return os.getpid(), local.process_identity(os.getpid())


def dead_pid() -> int:
    """The pid of a process that has already exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 240.0) -> None:
    """Poll until ``condition()`` holds; a generous safety net, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.25)


def finished(run_id: str) -> Callable[[], bool]:
    def check() -> bool:
        queue.dispatch(get_settings())
        return not open_store(get_settings()).get_run(run_id).active
    return check


# ---------------------------------------------------------------- queue logic (no processes)


def kill_stray_workers(home: Path) -> None:
    """Kill the workers of an app's unfinished runs: they are detached from the server, so
    stopping the server does not end them."""
    store = SQLiteRunStore(home / "runs.sqlite3")
    for run in store.list_runs(WORKING):
        if run.pid and local.worker_alive(run)[0]:
            os.kill(run.pid, signal.SIGKILL)
