"""/data's "Import images": a zip of class folders read in a limited worker process, not in
the web server, and stored with its owner.

Decoding images is the costly part of an import: thousands of large images are minutes of
a core. So the web server does only the checks that cost nothing (the central directory,
the names, the class count) and hands the zip to a child process
(``python -m dashcore.datasets.zip_import WORK``) that lowers its priority, limits its own
CPU time (``DASHCORE_IMPORT_CPU_SECONDS``) and memory, reads the images and writes the
arrays to ``WORK/dataset.npz`` with a ``report.json``. The server waits at most
``DASHCORE_IMPORT_MAX_SECONDS`` and kills the child after that; at most
``DASHCORE_IMPORT_WORKERS`` imports run at once, and one at a time per person. The arrays
coming back are checked (type, shape, labels, class names) before anything is stored.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import secrets
import shutil
import sys
from pathlib import Path

import numpy as np

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.datasets.base import Dataset, check_class_name
from dashcore.datasets.image_folders import (
    ImportOptions,
    ImportReport,
    open_zip,
    plan_import,
    read_class_folders,
)
from dashcore.datasets.saved import check_new_name, store_dataset
from dashcore.errors import UserError
from dashcore.limited import WorkGate, apply_limits, child_env, run_child
from dashcore.settings import Limits, Settings, limit_setting

IMPORTS = WorkGate("one import")  # shared by every session of this server process
NICE = 10  # the worker's priority below the web server's


def _memory_mb(limits: Limits) -> int:
    """The child's address-space limit: the zip, its decoded images twice, and Python."""
    return 3 * limits.unpacked_mb + limits.upload_mb + 768


def read_zip_limited(data: bytes, name: str, options: ImportOptions, settings: Settings,
                     owner: str) -> ImportReport:
    """:func:`~dashcore.datasets.image_folders.read_class_folders`, with the images read in
    a limited child process; writes nothing outside its work folder.

    Raises:
        UserError: the zip cannot be used (the child's sentence), the import ran past its
            time or CPU limit, the server is busy, or ``owner`` already has one running.
    """
    limits = settings.limits
    channels = options.check()
    _archive, files = open_zip(data, limits, options.side, channels)  # cheap, and in order
    plan_import(files, [])  # the class count, from names alone
    with IMPORTS.slot(owner, limits.import_workers):
        work = settings.uploads_dir / "imports" / secrets.token_hex(8)
        work.mkdir(parents=True)
        try:
            return _run(work, data, name, options, limits)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, data: bytes, name: str, options: ImportOptions, limits: Limits
         ) -> ImportReport:
    (work / "upload.zip").write_bytes(data)
    (work / "job.json").write_text(json.dumps({
        "name": name, "options": dataclasses.asdict(options),
        "limits": dataclasses.asdict(limits)}), "utf-8")
    memory_mb = _memory_mb(limits)
    cpu_s = max(1, math.ceil(limits.import_cpu_seconds))
    (work / "tmp").mkdir()
    end = run_child([sys.executable, "-m", "dashcore.datasets.zip_import", str(work),
                     "--cpu-s", str(cpu_s), "--memory-mb", str(memory_mb)],
                    work, child_env(work / "tmp"), limits.import_max_seconds)
    if end.timed_out:
        raise UserError(f"Reading these images took longer than {limits.import_max_seconds:g} "
                        "s, so the import was stopped and nothing was stored. Upload fewer or "
                        f"smaller images. {limit_setting('import_max_seconds')}")
    try:
        report = json.loads((work / "report.json").read_text("utf-8"))
    except (OSError, ValueError):
        if end.out_of_cpu:
            raise UserError(f"Reading these images used more than {cpu_s} s of processor "
                            "time, so the import was stopped and nothing was stored. Upload "
                            f"fewer or smaller images. {limit_setting('import_cpu_seconds')}"
                            ) from None
        raise UserError(f"Reading these images stopped before finishing (exit code "
                        f"{end.returncode}: {end.last_line}). It may have run out of its "
                        f"{memory_mb:,} MB memory limit: upload fewer or smaller images."
                        ) from None
    if not report.get("ok"):
        raise UserError(str(report.get("message"))[:2_000])
    return _checked_report(work / "dataset.npz", report, name, options)


def _checked_report(path: Path, report: dict, name: str, options: ImportOptions
                    ) -> ImportReport:
    """The child's arrays and lines, refused unless they are what an import makes."""
    shape = (options.side, options.side) + ((3,) if options.colour == "rgb" else ())
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k]) for k in ("x_train", "y_train", "x_test",
                                                      "y_test", "class_names")}
        names = tuple(check_class_name(str(n)) for n in arrays["class_names"])
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if not (x.dtype == np.uint8 and x.shape[1:] == shape and y.shape == (len(x),)
                    and y.dtype.kind == "i"
                    and (len(y) == 0 or 0 <= y.min() <= y.max() < len(names))):
                raise ValueError(split)
        problems = [str(line) for line in report.get("problems", [])]
    except (OSError, ValueError, KeyError, UserError):
        raise UserError("Reading these images gave a result that is not a dataset; nothing "
                        "was stored. Zip the folders again and retry.") from None
    dataset = Dataset(name=name, x_train=arrays["x_train"], y_train=arrays["y_train"],
                      x_test=arrays["x_test"], y_test=arrays["y_test"], class_names=names,
                      source=str(report.get("source", ""))[:300])
    return ImportReport(dataset=dataset, problems=problems,
                        more_problems=int(report.get("more_problems", 0)),
                        presplit=bool(report.get("presplit", False)))


def import_zip(name: str, data: bytes, options: ImportOptions, settings: Settings,
               user: User | None = None) -> ImportReport:
    """/data's "Import": check, read and store a zip of class folders as ``upload:<name>``.

    The name is checked before the zip is read; nothing is written unless the import
    succeeds. ``user`` must be allowed to upload and is recorded as the owner.

    Raises:
        PermissionDenied: ``user`` may not upload.
        UserError: a bad name, a full disk quota, a zip that cannot be used at all, or an
            import past its limits.
    """
    authorize(user, "upload")
    clean, _target = check_new_name(name, settings)
    check_quota(user, settings, len(data), "this dataset")  # again with the real size below
    owner = user.name if user is not None else ""
    report = read_zip_limited(data, clean, options, settings, owner)
    report.dataset = store_dataset(report.dataset, clean, settings, user)
    return report


def _child(work: Path) -> dict:
    """In the child: read the zip, write the arrays; returns the report."""
    job = json.loads((work / "job.json").read_text("utf-8"))
    result = read_class_folders((work / "upload.zip").read_bytes(), job["name"],
                                ImportOptions(**job["options"]), Limits(**job["limits"]))
    ds = result.dataset
    np.savez(work / "dataset.npz", x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
             y_test=ds.y_test, class_names=np.array(ds.class_names))
    return {"ok": True, "problems": result.problems, "more_problems": result.more_problems,
            "presplit": result.presplit, "source": ds.source}


def main(argv: list[str] | None = None) -> int:
    """``python -m dashcore.datasets.zip_import WORK --cpu-s N --memory-mb M``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("work", type=Path)
    parser.add_argument("--cpu-s", type=int, required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    args = parser.parse_args(argv)
    os.nice(NICE)
    apply_limits(args.memory_mb, args.cpu_s, file_mb=args.memory_mb)
    try:
        report = _child(args.work)
    except UserError as exc:
        report = {"ok": False, "message": str(exc)}
    except MemoryError:
        report = {"ok": False, "message": "Reading these images ran out of the import's "
                  f"{args.memory_mb:,} MB memory limit: upload fewer or smaller images."}
    (args.work / "report.json").write_text(json.dumps(report), "utf-8")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
