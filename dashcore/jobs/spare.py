"""A warm spare worker: ``python -m dashcore.jobs.spare <log>`` waits, warm, for one run.

Started by :func:`dashcore.jobs.spares.start_spare`, detached. It lowers its priority and
sizes the thread pools exactly as a worker does, imports Keras and the backend, loads the
built-in datasets and trains a tiny model for two steps (the first fit in a process pays
for lazy initialisation that a run should not wait for), then clears the Keras session.
Then it makes its FIFO and blocks on it: an idle spare uses no CPU. A line ``run <id>``
turns it into that run's worker (its output moves to the run's log and it trains through
:func:`dashcore.jobs.worker.run_job`, then exits, unless the run is a trial of a sweep
whose trials share a worker); ``exit`` ends it; so does being idle
for ``spare_idle_minutes`` or its folder disappearing.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import sys
import time
from pathlib import Path

from dashcore.access.stores import count_every_store
from dashcore.settings import Settings, SettingsError, get_settings

CHECK_EVERY_S = 60.0  # how often an idle spare wakes to see whether it is still wanted
CLAIM_GRACE_S = 30.0  # how long a claimed spare waits for its run id before giving up


def warm_up(settings: Settings) -> None:
    """Import the training path, load the built-in datasets that are on this machine and
    fit a tiny model for two steps; leaves Keras's session cleared (no model, no traced
    function) and its global settings as a fresh process has them."""
    import keras

    from dashcore.datasets.catalog import load_fashion_mnist, load_mnist
    from dashcore.errors import UserError
    from dashcore.training.config import TrainConfig
    from dashcore.training.pipeline import train_in_process

    load_mnist()
    if fashion_is_cached():
        with contextlib.suppress(UserError):
            load_fashion_mnist()
    train_in_process(TrainConfig(epochs=1, batch_size=128, max_train_images=256,
                                 validation_split=0.25), settings=settings, register=False)
    keras.backend.clear_session()
    gc.collect()


def fashion_is_cached() -> bool:
    """Whether Keras has Fashion-MNIST on disk already (a spare never downloads)."""
    folder = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    return (folder / "fashion-mnist").is_dir()


def _read_message(fd: int) -> str:
    """One line from the FIFO (messages are short, so one write arrives whole)."""
    return os.read(fd, 4096).decode("utf-8", "replace").strip()


def wait_for_run(fd: int, ready: Path, claimed: Path, record: Path,
                 idle_s: float) -> str | None:
    """Block until a dispatcher sends a run id; ``None`` when this spare should exit."""
    idle_until = time.monotonic() + idle_s
    while True:
        readable, _, _ = select.select([fd], [], [], CHECK_EVERY_S)
        if readable:
            message = _read_message(fd)
            if message.startswith("run "):
                return message[4:].strip()
            if message == "exit":
                return None
            continue
        if claimed.exists():
            continue  # taken: the run id is on its way
        if not ready.exists() or not record.exists():
            return None  # retired, or the data folder was removed
        if time.monotonic() >= idle_until:
            try:
                os.rename(ready, claimed)  # take itself, so no dispatcher can
            except OSError:
                continue  # a dispatcher just did: wait for its message
            return None


def serve(settings: Settings, own_log: Path | None) -> int:
    """Warm up, wait for one run, train it; returns the exit code."""
    from dashcore.jobs import spares
    from dashcore.jobs.worker import configure_process, move_output, run_job

    pid = os.getpid()
    record = spares.record_path(settings, pid)
    ready, claimed = spares.ready_path(settings, pid), spares.claimed_path(settings, pid)
    configure_process(settings)
    began = time.monotonic()
    warm_up(settings)
    print(f"spare {pid}: warm in {time.monotonic() - began:.1f} s", flush=True)
    if not record.exists():
        return 0  # retired while warming up
    temporary = ready.with_suffix(".making")
    os.mkfifo(temporary, 0o600)
    fd = os.open(temporary, os.O_RDWR)  # never sees end-of-file; blocks until a message
    os.rename(temporary, ready)
    try:
        run_id = wait_for_run(fd, ready, claimed, record, settings.spare_idle_minutes * 60)
    finally:
        os.close(fd)
        for path in (claimed, ready, record):
            with contextlib.suppress(OSError):
                path.unlink()
    if run_id is None:
        print(f"spare {pid}: not needed any more, exiting", flush=True)
        if own_log is not None:
            with contextlib.suppress(OSError):
                own_log.unlink()
        return 0
    run_dir = settings.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    move_output(run_dir / "worker.log")
    if own_log is not None:
        with contextlib.suppress(OSError):
            own_log.unlink()
    print(f"warm spare {pid} took run {run_id}", flush=True)
    return run_job(run_id, settings, worker="spare")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m dashcore.jobs.spare [<its own log>]``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = get_settings()
    except SettingsError as exc:  # its own log says which value is wrong; runs go cold
        print(f"spare not started: {exc}", file=sys.stderr)
        return 2
    count_every_store()  # as a worker does: a sweep's next trial is checked against quotas
    return serve(settings, Path(args[0]) if args else None)


if __name__ == "__main__":
    sys.exit(main())
