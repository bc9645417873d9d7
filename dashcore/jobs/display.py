"""What pages show about runs: status lines, progress captions, history rows."""

from __future__ import annotations

import time

from dashcore.backend import backend_title
from dashcore.jobs.queue import queue_positions
from dashcore.store.runs import (
    FAILED,
    INTERRUPTED,
    QUEUED,
    STOPPED,
    RunRecord,
)
from dashcore.training.phases import COMPILING, describe_phases

# ---------------------------------------------------------------- what pages show


def format_seconds(seconds: float | None) -> str:
    """``75`` → ``1 min 15 s``; ``None`` → ``–``."""
    if seconds is None:
        return "–"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def status_line(run: RunRecord, position: int | None = None) -> str:
    """One sentence about where a run is, for the live panel."""
    waiting = (run.progress or {}).get("waiting") if run.status in (QUEUED, "starting") \
        else None
    if run.status == QUEUED:
        ahead = f"position {position} in the queue" if position else "waiting in the queue"
        return f"Queued: {ahead}. " + (waiting or "It starts when a running job finishes.")
    if run.status == "starting":
        if run.stop_requested:
            return "Stopping: the job is cancelled before it trains."
        if waiting:
            return waiting  # e.g. "Waiting for a GPU: …" (a Ray job held back for resources)
        progress = run.progress or {}
        there = " on the Ray host" if run.backend == "ray" else ""
        if progress.get("worker") == "spare":
            return f"Starting: a warm worker{there} is taking the run."
        if progress.get("worker") == "reused":
            return "Starting: the worker of the sweep's previous trial is taking it."
        if run.backend == "ray" and progress.get("worker") != "cold":
            return ("Starting: the Ray job is starting; it hands the run to a warm worker "
                    "on its host, or starts one.")
        expected = progress.get("expected_s")
        about = f": ~{format_seconds(expected)}" if expected else ""
        return (f"Starting a worker{there}{about}. No warm worker was free, so this one "
                f"loads Keras and {backend_title()} first.")
    if run.status == "running":
        if run.stop_requested:
            return "Stopping: the worker halts after the current batch and saves the model."
        progress = run.progress or {}
        if not progress.get("batch"):
            phases = progress.get("phases") or []
            if phases and phases[-1].get("phase") == COMPILING:
                return "Running: building and compiling the model (until the first point)."
            return "Running: loading the data."
        return "Running."
    if run.reason:
        return run.reason
    return {"completed": "Completed.", STOPPED: "Stopped.", FAILED: "Failed.",
            INTERRUPTED: "Interrupted."}.get(run.status, run.status)


def phases_line(run: RunRecord) -> str:
    """Where the run's time went, for the live panel: ``waiting for a worker 0.1 s ·
    loading data 0.4 s · compiling 0.9 s · training 12 s…`` (``""`` before it starts).

    Kept with the run after it ends (its summary) and on its model card.
    """
    phases = (run.summary or {}).get("phases") or (run.progress or {}).get("phases")
    if not phases and run.status == "starting":
        handed = (run.progress or {}).get("dispatched")
        if handed:
            phases = [{"phase": "waiting for a worker", "s": time.time() - float(handed),
                       "done": False}]
    return describe_phases(phases)


def progress_caption(progress: dict) -> tuple[float, str]:
    """(fraction done, 'epoch 2/5 · batch 130/422 · 1,850 samples/s · ETA 40 s')."""
    if not progress or not progress.get("epochs"):
        return 0.0, "Waiting for the first batch…"
    parts = [f"epoch {progress.get('epoch')}/{progress.get('epochs')}"]
    if progress.get("batch"):
        parts.append(f"batch {progress['batch']}/{progress.get('steps')}")
    if progress.get("samples_per_s"):
        parts.append(f"{progress['samples_per_s']:,.0f} samples/s")
    if progress.get("phase") != "finished":
        parts.append(f"ETA {format_seconds(progress.get('eta_s'))}")
    return float(min(1.0, max(0.0, progress.get("fraction") or 0.0))), " · ".join(parts)


def history_rows(runs: list[RunRecord]) -> list[dict]:
    """The history table: newest first, one row per run."""
    positions = queue_positions(runs)
    rows = []
    for run in sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True):
        summary = run.summary or {}
        status = run.status + (f" (#{positions[run.run_id]})" if run.run_id in positions else "")
        rows.append({
            "Name": run.name, "Status": status, "Dataset": run.dataset,
            "Architecture": run.architecture,
            "Best val accuracy": summary.get("best_val_accuracy"),
            "Test accuracy": summary.get("test_accuracy"),
            "Duration": format_seconds(run.duration_s) if run.started else "–",
            "Started": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)),
            "Owner": run.owner or "–",
            "Run id": run.run_id,
        })
    return rows
