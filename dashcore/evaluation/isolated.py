"""Evaluating an untrusted model in a separate, time- and memory-limited process.

An uploaded model passed the upload checks, but its cost did not: eight wide
convolutions over 60,000 images can hold a core for an hour. Run in the web server's
process, that would be everyone's problem, and a visitor could start it. So /evaluate
runs uploaded models here: a child process (``python -m dashcore.evaluation.isolated``)
limits itself like the upload checker (address space, CPU seconds, file size) before
importing TensorFlow, loads the model, checks it fits the dataset, predicts the split in
batches and writes the probabilities to a ``.npy`` file; the parent waits at most
``DASHCORE_EVAL_MAX_SECONDS`` and kills the child's whole session after that. One such
child runs at a time per server.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from dashcore.errors import UserError
from dashcore.limited import apply_limits, child_env
from dashcore.settings import Settings, get_settings, limit_setting

EVAL_MEMORY_MB = 4096  # RLIMIT_AS of the child (TensorFlow alone reserves ~2.2 GB)
_eval_slots = threading.Semaphore(1)  # one isolated evaluation (~1 core) at a time


def _child_env(settings: Settings, tmp_dir: Path) -> dict[str, str]:
    """The checker's small environment, plus the data folder the child reads datasets from.

    Its temporary files (Keras may extract the model there) go to ``tmp_dir``, inside the
    work folder that is removed afterwards.
    """
    tmp_dir.mkdir(exist_ok=True)
    env = child_env(tmp_dir)
    env["DASHCORE_HOME"] = str(settings.home)
    for key, value in os.environ.items():  # the same limits and dataset settings
        if key.startswith("DASHCORE_") and key != "DASHCORE_HOME":
            env[key] = value
    return env


def predict_isolated(model_path: Path, dataset_name: str, split: str, settings: Settings,
                     expected: tuple[int, int], timeout_s: float | None = None,
                     memory_mb: int = EVAL_MEMORY_MB) -> np.ndarray:
    """Class outputs of ``model_path`` on a split, computed in a limited child process.

    ``expected`` is ``(images, classes)``: the parent checks the child's answer against
    it, so a broken child cannot hand back arrays of another shape.

    Raises:
        UserError: the model does not fit the dataset (the child's sentence), ran past the
            time limit (naming ``DASHCORE_EVAL_MAX_SECONDS``), or crashed.
    """
    timeout_s = settings.limits.eval_max_seconds if timeout_s is None else timeout_s
    work = settings.uploads_dir / "evaluations" / secrets.token_hex(8)
    work.mkdir(parents=True)
    out, result = work / "probs.npy", work / "result.json"
    command = [sys.executable, "-m", "dashcore.evaluation.isolated", str(model_path),
               dataset_name, split, str(work), "--memory-mb", str(memory_mb),
               "--cpu-s", str(max(10, int(timeout_s * 2)))]
    try:
        with _eval_slots:
            proc = subprocess.Popen(command, cwd=str(work), env=_child_env(settings, work / "tmp"),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
            try:
                _, stderr = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise UserError(
                    f"Evaluating this uploaded model took longer than {timeout_s:g} s, so it "
                    "was stopped. Try the smaller test split, or a smaller model. "
                    f"{limit_setting('eval_max_seconds')}") from None
        try:
            report = json.loads(result.read_text("utf-8"))
        except (OSError, ValueError):
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"Evaluating this uploaded model stopped before finishing (exit "
                            f"code {proc.returncode}: {tail[0][:200]}). It may have run out of "
                            f"its {memory_mb} MB memory limit: try a smaller model.") from None
        if not report.get("ok"):
            raise UserError(str(report.get("message")))
        probs = np.load(out, allow_pickle=False)
        if probs.shape != expected or not np.all(np.isfinite(probs)):
            raise UserError(f"Evaluating this uploaded model gave outputs of shape "
                            f"{probs.shape}, not {expected[0]:,} rows of {expected[1]} finite "
                            "scores. Check the model in Keras and upload it again.")
        return probs.astype(np.float32, copy=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_child(model: Path, dataset_name: str, split: str, work: Path,
               settings: Settings) -> dict:
    """In the child: load, check fit, predict, write ``probs.npy``; returns the report."""
    from dashcore.evaluation.splits import BATCH_SIZE, check_fit, split_arrays
    from dashcore.inference.predictor import get_predictor

    x, _y, dataset = split_arrays(dataset_name, split, settings)
    predictor = get_predictor(model)
    check_fit(predictor.input_shape, predictor.num_outputs, x.shape[1:3], dataset.num_classes,
              dataset.name)
    np.save(work / "probs.npy", predictor.predict_many(x, batch_size=BATCH_SIZE))
    return {"ok": True}


def main(argv: list[str] | None = None) -> int:
    """``python -m dashcore.evaluation.isolated MODEL DATASET SPLIT WORKDIR``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("dataset")
    parser.add_argument("split")
    parser.add_argument("work", type=Path)
    parser.add_argument("--memory-mb", type=int, default=EVAL_MEMORY_MB)
    parser.add_argument("--cpu-s", type=int, default=600)
    args = parser.parse_args(argv)
    apply_limits(args.memory_mb, args.cpu_s, file_mb=1024)
    try:
        report = _run_child(args.model, args.dataset, args.split, args.work, get_settings())
    except UserError as exc:
        report = {"ok": False, "message": str(exc)}
    except (MemoryError, ImportError):
        report = {"ok": False, "message": "Evaluating this model ran out of its "
                  f"{args.memory_mb} MB memory limit. Try a smaller model."}
    except Exception as exc:  # noqa: BLE001 - report, never crash silently
        report = {"ok": False, "message": f"Evaluating this model failed "
                  f"({type(exc).__name__}: {str(exc)[:300]})."}
    (args.work / "result.json").write_text(json.dumps(report), "utf-8")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
