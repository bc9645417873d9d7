"""Export formats compared: file size and single-image latency, same model, same images, same run.

Takes the model /draw uses out of the box (the shipped default model) or ``--model`` (a
``.keras`` file), exports it as a SavedModel and as TFLite (float32 and dynamic-range
quantised) with :mod:`dashcore.models.export_formats`, checks each as the models page does,
then times one image at a time through every format. Rounds are interleaved (each image
goes through every format before the next image), so the machine's load falls on all
formats alike.

Run::

    python -m benchmarks.bench_export_formats              # ~1 minute
    python -m benchmarks.bench_export_formats --images 500
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import LoadMeter, markdown_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _interpreter(content: bytes) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=content)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a .keras file")
    parser.add_argument("--images", type=int, default=300, help="test images timed, one by one")
    args = parser.parse_args()
    load = LoadMeter()
    print(f"processor: {platform.processor() or platform.machine()}")

    import keras
    import tensorflow as tf

    from dashcore.datasets.catalog import load_mnist
    from dashcore.models import export_formats as ef
    from dashcore.models.registry import builtin_paths

    path = args.model or builtin_paths()[0]
    model = keras.saving.load_model(str(path), compile=False)
    mnist = load_mnist()
    x_all = (mnist.x_test.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    y_all = mnist.y_test
    print(f"model: {path.name}, {model.count_params():,} parameters")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checks = {fmt: ef.convert_and_check(model, fmt, folder / f"m{suffix}", x_all, y_all,
                                            "MNIST test images")
                  for fmt, (_, suffix) in ef.FORMATS.items()}
        for fmt, check in checks.items():
            print(f"{fmt}: {check.sentence()} ({check.seconds:.1f} s)")
        shutil_dir = folder / "unzipped"
        import shutil

        shutil.unpack_archive(str(folder / "m.savedmodel.zip"), shutil_dir, "zip")
        saved = tf.saved_model.load(str(shutil_dir / "savedmodel"))
        sizes = {".keras": path.stat().st_size,
                 "SavedModel (folder)": _folder_bytes(shutil_dir / "savedmodel"),
                 "SavedModel (.zip)": checks["savedmodel"].size_bytes,
                 "TFLite float32": checks["tflite"].size_bytes,
                 "TFLite quantised": checks["tflite_quant"].size_bytes}
        signature = [tf.TensorSpec((None, 28, 28, 1), tf.float32)]
        compiled = tf.function(lambda x: model(x, training=False), input_signature=signature)
        runners: dict[str, Callable[[np.ndarray], object]] = {
            ".keras, model(x) eager": lambda x: model(x, training=False),
            ".keras, compiled model(x) (tf.function)": compiled,
            "SavedModel serve(x)": lambda x: saved.serve(x),
            "TFLite float32": _interpreter((folder / "m.tflite").read_bytes()),
            "TFLite quantised": _interpreter((folder / "m.quant.tflite").read_bytes()),
        }
        images = [x_all[i:i + 1] for i in range(args.images)]
        for run in runners.values():  # warm up (tracing, allocation)
            for image in images[:10]:
                np.asarray(run(image))
        times: dict[str, list[float]] = {name: [] for name in runners}
        for image in images:
            for name, run in runners.items():
                start = time.perf_counter()
                np.asarray(run(image))
                times[name].append((time.perf_counter() - start) * 1000)

    print()
    print(markdown_table(["file", "size"],
                         [[name, f"{size / 1024:,.1f} KiB"] for name, size in sizes.items()]))
    print()
    print(markdown_table(["format", "p50 ms", "p95 ms", f"(one image, {args.images} images)"],
                         [[name, f"{np.percentile(values, 50):.3f}",
                           f"{np.percentile(values, 95):.3f}", ""]
                          for name, values in times.items()]))
    quant = checks["tflite_quant"]
    print(f"\nquantised test accuracy {quant.accuracy:.2%} vs Keras {quant.keras_accuracy:.2%} "
          f"on {quant.accuracy_images:,} MNIST test images")
    print(load.line())


if __name__ == "__main__":
    main()
