"""The entrypoint of a run's Ray job: ``python -m dashcore.jobs.ray_entry <run_id>``.

One Ray job per run keeps what the Jobs API gives: the run outlives the web server, Stop
and ``stop_job`` end it, Ray counts its CPUs and GPUs and holds it back while none is
free. But a job's entrypoint is a fresh process, and a fresh worker spends seconds
importing TensorFlow and Keras before its first point. So this entrypoint imports
neither: on the host Ray placed the job on, it hands the run to a warm spare of that host
(:func:`dashcore.jobs.spares.claim`, the same hand-over as on one box) and stays the
job's process for as long as the spare trains:

- it copies the spare's output (the run's ``worker.log`` on this host) to its own, which
  is the job's log the server shows;
- a SIGTERM or SIGINT (what ``stop_job`` sends) is passed on to the spare as SIGTERM, so
  the spare stops at its next batch and keeps the model so far;
- it exits once the spare has exited: 0 when the run's outcome is in the store, 1 when
  the spare ended without recording one (Ray then reports the job failed).

With no spare ready (the first run on a host, or a burst) it trains the run itself, as
the job's worker always did, and the run says so. Either way it forks a *minder*, in its
own session and no longer this process's child, so Ray ending the job does not reach it:
the minder starts a replacement spare on this host once the run shows its first point
(within the same ``DASHCORE_SPARES`` and ``DASHCORE_SPARE_MB`` bounds as on one box),
and it kills the spare if this entrypoint disappears while the spare still trains (Ray
SIGKILLs a job that has not ended a few seconds after its SIGTERM), so a stopped job
never leaves training behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import BinaryIO

from dashcore.jobs import spares
from dashcore.jobs.local import identity_matches, process_identity
from dashcore.settings import Settings, SettingsError, get_settings
from dashcore.store.runs import STARTING, WORKING, RunStore
from dashcore.training.phases import TRAINING

Process = tuple[int, float | None]  # (pid, identity), as spares.claim returns them

POLL_S = 0.2  # how often the entrypoint copies the spare's output and checks it is alive
MINDER_POLL_S = 0.5  # how often the minder looks at the processes and the run
# Variables Ray sets for one job's entrypoint: a spare started from here serves later jobs.
JOB_ONLY_ENV = ("RAY_JOB_CONFIG_JSON_ENV_VAR", "RAY_JOB_ID", "RAY_SUBMISSION_ID")


def alive(process: Process) -> bool:
    """Whether ``process`` is still the same running process (a reused pid is not)."""
    pid, identity = process
    now = process_identity(pid)
    return now is not None and identity_matches(now, identity)


def exit_code(status: str | None) -> int:
    """The entrypoint's exit code once the spare has gone: 0 when the run has an outcome
    (the spare recorded it), 1 when it is still marked working or could not be read."""
    return 0 if status is not None and status not in WORKING else 1


def has_trained(progress: dict | None, status: str) -> bool:
    """Whether a run has shown its first point (its phases reached ``training``) or has
    ended: the moment to warm a replacement spare without slowing the run's start."""
    if status not in WORKING:
        return True
    phases = (progress or {}).get("phases") or []
    return any(isinstance(row, dict) and row.get("phase") == TRAINING for row in phases)


class OutputRelay:
    """Copies what a file gains, from a given offset, to a byte stream: the spare writes
    the run's ``worker.log`` on this host, and the job's log is this process's output."""

    def __init__(self, path: Path, out: BinaryIO, offset: int | None = None) -> None:
        self.path, self.out = path, out
        self.offset = size_of(path) if offset is None else offset

    def pump(self) -> int:
        """Copy what is new; returns how many bytes were copied."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return 0  # not written yet
        if data:
            self.offset += len(data)
            with contextlib.suppress(OSError, ValueError):
                self.out.write(data)
                self.out.flush()
        return len(data)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------- the job's process


def follow(run_id: str, settings: Settings, spare: Process, relay: OutputRelay) -> int:
    """Wait for the spare training ``run_id`` to exit, copying its output and passing on
    a stop signal; returns the job's exit code."""
    def forward(signum: int, frame: object) -> None:
        if alive(spare):
            print(f"stop signal {signal.Signals(signum).name}: passed on to warm worker "
                  f"{spare[0]}", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(spare[0], signal.SIGTERM)  # the worker stops at its next batch

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while alive(spare):
        relay.pump()
        time.sleep(POLL_S)
    time.sleep(POLL_S)
    relay.pump()
    status = None
    try:
        from dashcore.store.factory import open_store

        status = open_store(settings).get_run(run_id).status
    except Exception:  # noqa: BLE001 - the store did not answer: say so and fail the job
        traceback.print_exc()
    code = exit_code(status)
    if code:
        print(f"warm worker {spare[0]} ended without recording an outcome for run {run_id} "
              f"(killed, or it crashed; its run is {status or 'unknown'})", file=sys.stderr,
              flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m dashcore.jobs.ray_entry <run_id>``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dashcore.jobs.ray_entry <run_id>", file=sys.stderr)
        return 2
    run_id = args[0]
    try:
        settings = get_settings()
    except SettingsError as exc:  # the job's log says which value is wrong
        print(f"run {run_id} was not started: {exc}", file=sys.stderr)
        return 2
    host = socket.gethostname()
    log = settings.runs_dir / run_id / "worker.log"
    offset = size_of(log)  # the spare appends to it: copy only what this run adds
    try:
        spare = spares.claim(run_id, settings)
    except OSError as exc:  # e.g. an unreadable spare folder: train cold, as before
        print(f"no warm worker taken ({exc})", file=sys.stderr)
        spare = None
    start_minder(run_id, settings, (os.getpid(), process_identity(os.getpid())), spare)
    if spare is None:
        print(f"No warm worker was ready on {host}: run {run_id} starts its worker here "
              "(it loads Keras first).", flush=True)
        from dashcore.jobs import worker

        return worker.main([run_id])
    print(f"Run {run_id} handed to warm worker {spare[0]} on {host}.", flush=True)
    return follow(run_id, settings, spare, OutputRelay(log, sys.stdout.buffer, offset))


# ---------------------------------------------------------------- the minder


def start_minder(run_id: str, settings: Settings, entry: Process,
                 spare: Process | None) -> None:
    """Fork the minder (:func:`mind`) detached: its own session, and reparented away from
    this process (the fork in between exits), so neither Ray's stop (this process and its
    children) nor the end of the job (this process's group) reaches it or its spares."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        child = os.fork()
    except OSError:
        traceback.print_exc()  # no minder: no replacement spare, the run itself goes on
        return
    if child:
        os.waitpid(child, 0)
        return
    code = 0
    try:
        os.setsid()
        if os.fork() == 0:
            try:
                mind(run_id, settings, entry, spare)
            except BaseException:  # noqa: BLE001 - never let it return into main()
                traceback.print_exc()
                code = 1
    finally:
        os._exit(code)


def mind(run_id: str, settings: Settings, entry: Process, spare: Process | None) -> None:
    """Say how the run was started, start a replacement spare once it has trained, and
    kill the spare if the job's process disappears while the spare still trains."""
    for key in JOB_ONLY_ENV:
        os.environ.pop(key, None)
    store = None
    noted = spare is not None  # a spare records itself at once; a cold start is said here
    topped = spares.wanted(settings) <= 0
    while True:
        entry_alive = alive(entry)
        spare_alive = spare is not None and alive(spare)
        if spare is not None and spare_alive and not entry_alive:
            print(f"the job of run {run_id} ended: ending its warm worker {spare[0]}",
                  flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(spare[0], signal.SIGKILL)
            spare_alive = False
        if store is None and not (noted and topped):
            store = _open_store(settings)
        if not noted and store is not None:
            _note_cold_start(store, run_id)
            noted = True
        if not topped and (not (entry_alive or spare_alive) or _trained(store, run_id)):
            with contextlib.suppress(OSError):
                spares.top_up(settings, on_ray_host=True)
            topped = True
        if topped and (noted or not entry_alive) and not spare_alive:
            return
        time.sleep(MINDER_POLL_S)


def _open_store(settings: Settings) -> RunStore | None:
    try:
        from dashcore.store.factory import open_store

        return open_store(settings)
    except Exception:  # noqa: BLE001 - no store: the run goes on, nothing is noted
        traceback.print_exc()
        return None


def _trained(store: RunStore | None, run_id: str) -> bool:
    if store is None:
        return False
    try:
        run = store.get_run(run_id)
    except Exception:  # noqa: BLE001 - ask again next time
        return False
    return has_trained(run.progress, run.status)


def _note_cold_start(store: RunStore, run_id: str) -> None:
    """Mark a still-starting run as waiting for a cold worker, with how long one takes
    here lately (the page says "Starting a worker: ~N s")."""
    try:
        run = store.get_run(run_id)
        if run.status != STARTING:
            return
        expected = spares.cold_start_estimate(store.list_runs())
        store.update_run(run_id, only_if_status=[STARTING],
                         progress={**run.progress, "worker": "cold", "expected_s": expected})
    except Exception:  # noqa: BLE001 - only a sentence on the page is lost
        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
