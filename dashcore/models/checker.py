"""The child process that loads an untrusted model file (run by :mod:`dashcore.models.upload`).

Usage: ``python -m dashcore.models.checker SRC OUT.keras RESULT.json [--memory-mb N] ...``

It limits itself *before* importing TensorFlow (address space, CPU seconds, size of
files it may write, no core dumps), repeats the archive inspection, loads the file
with ``safe_mode=True`` and ``compile=False``, checks the input/output shapes, runs one
forward pass on a blank image and re-saves the model as a clean ``.keras`` at OUT.
The outcome is written to RESULT.json: ``{"ok": true, ...}`` or ``{"ok": false, "code",
"message"}``. A crash (out of memory, killed) leaves no result; the parent reports that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from dashcore.limited import apply_limits


def check(src: Path, out: Path, limit_mb: int) -> dict[str, Any]:
    """Inspect, load, shape-check, run and re-save one model file; returns the report."""
    from dashcore.models.archive_check import UploadRefused, check_io_shapes, inspect_archive

    inspect_archive(src, limit_mb)  # defence in depth: the parent did this too
    import keras
    import numpy as np

    from dashcore.inference.predictor import fit_input

    try:
        model = keras.saving.load_model(str(src), compile=False, safe_mode=True)
    except MemoryError:
        raise
    except (TypeError, AttributeError, KeyError) as exc:  # Keras's internals, not a sentence
        raise UploadRefused("load_failed", "Keras could not rebuild this model from its "
                            f"description: a layer's settings do not fit that layer "
                            f"({type(exc).__name__}). The file was probably edited by hand or "
                            "written by another Keras version: load it where it was made and "
                            "save it again with model.save('my_model.keras').") from None
    except Exception as exc:  # noqa: BLE001 - any load failure is the file's fault
        detail = " ".join(str(exc).split())[:300]
        raise UploadRefused("load_failed", "Keras could not load this model "
                            f"({type(exc).__name__}: {detail}). The file may be damaged, or "
                            "saved by an incompatible Keras version: load it where it was made "
                            "and save it again with model.save('my_model.keras').") from None
    if len(getattr(model, "inputs", None) or [None]) != 1 or len(model.outputs or []) != 1:
        raise UploadRefused("shapes", "This model has several inputs or outputs (or none "
                            "defined). The workbench needs one image input and one class "
                            "output; build it with keras.Input((28, 28, 1)) and save again.")
    input_shape = [None if d is None else int(d) for d in model.inputs[0].shape[1:]]
    output_shape = [None if d is None else int(d) for d in model.outputs[0].shape[1:]]
    height, width = check_io_shapes(input_shape, output_shape)
    x = fit_input(np.zeros((1, height, width), dtype=np.uint8), tuple(input_shape))
    y = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    if y.shape != (1, output_shape[0]) or not np.all(np.isfinite(y)):
        raise UploadRefused("shapes", f"Running the model on a blank {height}×{width} image gave "
                            f"output of shape {y.shape} (finite: {bool(np.all(np.isfinite(y)))})"
                            f"; expected 1×{output_shape[0]} finite scores. Check the model "
                            "in Keras and save it again.")
    keras.saving.save_model(model, str(out))
    last = model.layers[-1].get_config().get("activation") if model.layers else None
    return {"ok": True, "input_shape": input_shape, "num_classes": int(output_shape[0]),
            "params": int(model.count_params()),
            "layers": [type(layer).__name__ for layer in model.layers],
            "output_activation": last if isinstance(last, str) else None}


def main(argv: list[str] | None = None) -> int:
    """Run the check; always try to leave a RESULT.json behind."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--cpu-s", type=int, default=240)
    parser.add_argument("--file-mb", type=int, default=400)
    parser.add_argument("--limit-mb", type=int, default=100)
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="folder for every temporary file (inside the quarantine)")
    args = parser.parse_args(argv)
    if args.tmp_dir is not None:  # Keras's extraction folders land here, and go with it
        os.environ["TMPDIR"] = str(args.tmp_dir)
        tempfile.tempdir = str(args.tmp_dir)
    apply_limits(args.memory_mb, args.cpu_s, args.file_mb)
    try:
        report = check(args.src, args.out, args.limit_mb)
    except (MemoryError, ImportError):  # TensorFlow fails to map its libraries when short
        report = {"ok": False, "code": "crashed", "message": "Loading this model ran out of "
                  f"the checker's {args.memory_mb} MB memory limit. Try a smaller model, or "
                  "ask the administrator to raise the limit."}
    except Exception as exc:  # noqa: BLE001 - report, never crash silently
        code = getattr(exc, "code", "load_failed")
        message = str(exc) if hasattr(exc, "code") else (
            f"Checking this model failed ({type(exc).__name__}: {str(exc)[:300]}). Save it "
            "again with model.save('my_model.keras') and re-upload it.")
        report = {"ok": False, "code": code, "message": message}
    args.result.write_text(json.dumps(report), "utf-8")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
