"""The worker process: ``python -m dashcore.jobs.worker <run_id>`` trains one queued run.

Started detached by :mod:`dashcore.jobs`, never by a page. It sizes the Keras backend's
thread pools (and lowers its own priority) so training and the web server do not fight
over a small machine's cores, moves the run to ``running``, trains through
:func:`dashcore.training.pipeline.train_in_process` with metrics going into the run store, and
records the outcome. Any exception becomes ``failed`` with a sentence; a SIGTERM
(system shutdown) stops at the next batch, keeps the model and marks it
``interrupted``. A SIGKILL cannot be caught: :func:`dashcore.jobs.queue.reconcile` notices.
Finally it dispatches the next queued run, so the queue moves with no page open.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashcore.backend import limit_threads
from dashcore.errors import NotFoundError, UserError
from dashcore.jobs import spares
from dashcore.settings import Settings, SettingsError, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    STARTING,
    STOPPED,
    WORKING,
    RunRecord,
    RunStore,
    StoreSink,
)
from dashcore.training.phases import TRAINING, WAITING, PhaseClock

WORKER_NICENESS = 5  # lower priority than the web server, so pages stay responsive


def worker_threads(settings: Settings) -> int:
    """The backend's intra-op threads per worker: the configured number, or the cores left
    after one for the web server, shared between concurrent jobs (at least 1)."""
    if settings.worker_threads > 0:
        return settings.worker_threads
    cores = os.cpu_count() or 2
    return max(1, (cores - 1) // max(1, settings.concurrent_jobs))


def configure_process(settings: Settings) -> int:
    """Lower this process's priority and size the backend's thread pools; returns threads.

    Must run before the backend computes anything (pools are fixed at first use).
    """
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < WORKER_NICENESS:
            os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICENESS)
    except (OSError, AttributeError):
        pass  # not permitted or not supported: run at normal priority
    threads = worker_threads(settings)
    limit_threads(threads)
    return threads


def _crash_reason(exc: BaseException, settings: Settings, run_id: str) -> str:
    """A sentence for an unexpected exception; the traceback goes to the worker log."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return ("The worker ran out of memory. Try a smaller batch size, a smaller model, "
                "or fewer training images.")
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    log = settings.runs_dir / run_id / "worker.log"
    return (f"Training crashed with {type(exc).__name__}: {first_line or 'no message'}. "
            f"The full error is in {log}.")


def run_job(run_id: str, settings: Settings, worker: str = "cold") -> int:
    """Train one run to its end and record the outcome; returns the process exit code.

    ``worker`` says how this process came to the run: ``cold`` (started for it) or
    ``spare`` (warm, waiting, see :mod:`dashcore.jobs.spare`); it is kept on the run. A
    trial of a sweep that asks for it (``same_worker``) may be followed, in this process,
    by the same sweep's next trial (``reused``, see :func:`_next_trial`): the store shows
    this process working on it, and Stop, kill and the time limit act on it as on any run.
    """
    from dashcore.jobs.queue import REUSED

    configure_process(settings)
    defaults = keras_globals()  # as a fresh process has them, before any run changes them
    stamp = spares.code_stamp()
    terminated = threading.Event()  # one per process: a SIGTERM between trials is kept
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
    while True:
        code, next_run = _run_one(run_id, settings, worker, terminated, stamp)
        if next_run is None:
            return code
        print(f"worker {os.getpid()} takes the sweep's next trial, run {next_run}",
              file=sys.stderr, flush=True)
        run_dir = settings.runs_dir / next_run
        run_dir.mkdir(parents=True, exist_ok=True)
        move_output(run_dir / "worker.log")  # each run's log holds its own training
        print(f"worker {os.getpid()} trained the sweep's previous trial, run {run_id}",
              file=sys.stderr, flush=True)
        fresh_keras(defaults)
        run_id, worker = next_run, REUSED


def move_output(log: Path) -> None:
    """Send this process's stdout and stderr (Python's and the C++ libraries') to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def keras_globals() -> dict[str, Any]:
    """Keras's process-wide settings that a run may change (floatx, epsilon, image data
    format, dtype policy), to put back before the next run in the same process."""
    import keras

    return {"floatx": keras.config.floatx(), "epsilon": keras.config.epsilon(),
            "image_data_format": keras.config.image_data_format(),
            "dtype_policy": keras.config.dtype_policy().name}


def fresh_keras(defaults: dict[str, Any]) -> None:
    """Leave Keras as a fresh process has it: no models or traced functions (a cleared
    session), ``defaults`` (from :func:`keras_globals`) back, garbage collected. The run's
    seed is set by the training pipeline itself, exactly as in a fresh process."""
    import keras

    keras.backend.clear_session()
    keras.config.set_floatx(defaults["floatx"])
    keras.config.set_epsilon(defaults["epsilon"])
    keras.config.set_image_data_format(defaults["image_data_format"])
    keras.config.set_dtype_policy(defaults["dtype_policy"])
    gc.collect()


def _run_one(run_id: str, settings: Settings, worker: str, terminated: threading.Event,
             stamp: str) -> tuple[int, str | None]:
    """Train ``run_id``; returns (exit code, the run this process trains next or None)."""
    store = open_store(settings)
    try:
        run = store.get_run(run_id)
    except NotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2, None
    threads = configure_process(settings)
    from dashcore.jobs.local import process_identity
    from dashcore.jobs.queue import dispatch
    from dashcore.training.config import TrainConfig
    from dashcore.training.pipeline import train_in_process

    pid = os.getpid()
    phases = _phase_clock(run, store, settings)
    if not store.update_run(run_id, only_if_status=(QUEUED, STARTING), status=RUNNING,
                            started=time.time(), pid=pid, pid_created=process_identity(pid),
                            host=socket.gethostname(),
                            progress={"phase": "preparing data", "threads": threads,
                                      "worker": worker, "phases": phases.summary()}):
        print(f"run {run_id} is {store.get_run(run_id).status}; nothing to do", file=sys.stderr)
        return 0, None

    def should_stop() -> bool:
        return terminated.is_set() or store.stop_requested(run_id)

    summary: dict = {}
    try:
        if not run.config:  # the store could not read it back: never train the defaults
            raise UserError("This run's stored training settings are damaged, so it was not "
                            "trained. Fill in the form and press Train again.")
        from dashcore.jobs.resume import lineage

        pruning = _sweep_pruning(run, settings)  # a sweep's trial reports every epoch
        outcome = train_in_process(TrainConfig.from_dict(run.config), StoreSink(store, run_id),
                                   should_stop, settings=settings, run_id=run_id,
                                   name=run.name, owner=run.owner,
                                   card_extra={**lineage(run.summary), "worker": worker},
                                   extra_callbacks=(pruning,) if pruning else (),
                                   phases=phases)
        status, reason, summary = outcome.status, outcome.reason, outcome.summary()
        if pruning is not None and pruning.pruned and status == COMPLETED:
            status, reason, summary["pruned"] = STOPPED, pruning.pruned, True
        if terminated.is_set() and status == STOPPED:
            status = INTERRUPTED
            reason = ("The worker was asked to shut down (SIGTERM), so training stopped early; "
                      "the model so far was saved.")
        final_name = store.get_run(run_id).name
        if outcome.model_id and final_name != run.name:  # renamed while training
            from dashcore.models.registry import rename_model

            rename_model(outcome.model_id, final_name, settings=settings)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the store
        traceback.print_exc()
        status, reason = FAILED, _crash_reason(exc, settings, run_id)
    summary.setdefault("phases", phases.summary())

    def record_end() -> None:
        current = store.get_run(run_id)
        store.update_run(run_id, only_if_status=WORKING, status=status, reason=reason,
                         finished=time.time(),
                         summary={**current.summary, **summary, "worker": worker},
                         progress={**current.progress, "phase": "finished"})
        print(f"run {run_id}: {status}. {reason or ''}", file=sys.stderr, flush=True)

    if _may_take_next(run, status, summary, terminated, stamp, settings):
        return 0, _next_trial(run, record_end, settings)
    record_end()
    try:
        dispatch(settings)
    except Exception:  # noqa: BLE001 - the next page poll dispatches instead
        traceback.print_exc()
    if run.config.get("sweep"):  # tell the sweep this trial's value and queue the next one
        from dashcore.sweeps.pruning import advance_sweeps

        advance_sweeps(settings)
    return 0, None


def _may_take_next(run: RunRecord, status: str, summary: dict[str, Any],
                   terminated: threading.Event, stamp: str, settings: Settings) -> bool:
    """Whether this process may train its sweep's next trial after ``run``: a trial of a
    sweep that asks for it, on a local worker, that completed or was pruned (a run that
    failed, was stopped by hand or by the time limit, or whose process was told to shut
    down, may leave state behind: its worker exits), with the code unchanged since this
    process started."""
    ref = (run.config or {}).get("sweep")
    if not isinstance(ref, dict) or not ref.get("same_worker"):
        return False
    from dashcore.sweeps import optuna_missing

    cleanly = status == COMPLETED or (status == STOPPED and summary.get("pruned") is True)
    return (cleanly and not terminated.is_set() and settings.backend == "local"
            and run.backend == "local" and not optuna_missing()
            and spares.code_stamp() == stamp)


def _next_trial(run: RunRecord, record_end: Callable[[], None],
                settings: Settings) -> str | None:
    """Record ``run``'s end and offer this process for its sweep's next trial of the same
    owner (see :func:`dashcore.sweeps.dispatch.end_trial`); the run id it was handed, or
    ``None``. Any failure on the way ends the run as usual and hands nothing over."""
    from dashcore.jobs.local import process_identity
    from dashcore.jobs.queue import Offer
    from dashcore.sweeps.dispatch import end_trial

    sweep_id = run.config["sweep"].get("id")

    def wants(queued: RunRecord) -> bool:
        ref = (queued.config or {}).get("sweep")
        return (isinstance(ref, dict) and ref.get("id") == sweep_id
                and bool(ref.get("same_worker")) and queued.owner == run.owner)

    pid = os.getpid()
    offer = Offer(pid=pid, identity=process_identity(pid), wants=wants)
    ended = False

    def end_once() -> None:
        nonlocal ended
        if not ended:
            ended = True
            record_end()

    try:
        return end_trial(settings, end_once, offer)
    except Exception:  # noqa: BLE001 - a busy database: end as usual, the page moves on
        traceback.print_exc()
        end_once()
        return offer.taken  # handed over already: this process must train it


def _top_up_spares(settings: Settings) -> None:
    try:
        spares.top_up(settings)
    except OSError:
        traceback.print_exc()


def _phase_clock(run: RunRecord, store: RunStore, settings: Settings) -> PhaseClock:
    """The run's phase clock, begun when the run was handed to a worker; each new phase is
    written to the store, and the first live point starts a replacement spare."""
    def changed(summary: list[dict[str, Any]]) -> None:
        current = store.get_run(run.run_id)
        store.update_run(run.run_id, only_if_status=WORKING,
                         progress={**current.progress, "phases": summary})
        if summary and summary[-1]["phase"] == TRAINING:
            # The run is visibly learning: warm a spare for the next one meanwhile (in a
            # thread, so this first live point is not held up by starting a process).
            threading.Thread(target=_top_up_spares, args=(settings,), daemon=True).start()

    phases = PhaseClock()
    handed = (run.progress or {}).get("dispatched")
    phases.enter(WAITING, at=float(handed) if handed else run.created)
    phases.on_change = changed
    return phases


def _sweep_pruning(run: RunRecord, settings: Settings) -> Any:
    """The pruning callback (``dashcore.sweeps.pruning.ReportToTrial``) for a sweep's trial;
    ``None`` for an ordinary run. Imported only here: Optuna is an optional extra."""
    if not run.config.get("sweep"):
        return None
    from dashcore.sweeps.pruning import trial_pruning

    return trial_pruning(run, settings)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m dashcore.jobs.worker <run_id>``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dashcore.jobs.worker <run_id>", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
    except SettingsError as exc:  # the worker log (or the Ray job's) says which value is wrong
        print(f"run {args[0]} was not started: {exc}", file=sys.stderr)
        return 2
    from dashcore.access.stores import count_every_store

    count_every_store()  # a sweep's next trial is checked against its owner's disk quota
    return run_job(args[0], settings)


if __name__ == "__main__":
    sys.exit(main())
