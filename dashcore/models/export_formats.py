"""Exports that travel: TensorFlow SavedModel and TFLite (float32, dynamic-range quantised).

Each export is *checked before it is offered*: the exported model runs on the first
:data:`PARITY_IMAGES` test images of the model's own dataset and must give the Keras
model's top-1 on every one, with probabilities within :data:`TOLERANCE`. The quantised
TFLite file trades exactness for size, so it is offered with its measured accuracy on the
test split (and refused when that falls more than :data:`QUANT_MAX_DROP` below Keras's).

Both formats are TensorFlow's: they need TensorFlow installed, whatever backend the server
trains on. The converter process always runs Keras on TensorFlow (``KERAS_BACKEND``
set for it) and reads the ``.keras`` file, which any backend writes alike; without
TensorFlow, :func:`prepare` says so in a sentence.

Conversion loads TensorFlow's converters and takes seconds, so :func:`prepare` runs it in a
separate, lower-priority process (``python -m dashcore.models.export_formats <id> <fmt>``)
and caches the file and its check beside each other under ``<home>/exports/<model id>/``,
keyed by the model file's modification time: a replaced model is converted again.

Example:
    >>> entry = get_entry("cnn-20250101-abc123", settings)  # doctest: +SKIP
    >>> check = prepare(entry, "tflite", settings)  # doctest: +SKIP
    >>> check.sentence()  # doctest: +SKIP
    'Checked: the same top-1 as the Keras model on 100 of 100 test images, ...'
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota, disk_use
from dashcore.atomic import atomic_write_json, atomic_write_with
from dashcore.backend import limit_threads, tensorflow_installed
from dashcore.errors import UserError
from dashcore.models.registry import ModelEntry, get_entry, list_models
from dashcore.settings import Settings, get_settings, limit_setting
from dashcore.system import folder_size, human_bytes

FORMATS = {  # key → (label, download suffix)
    "savedmodel": ("TensorFlow SavedModel", ".savedmodel.zip"),
    "tflite": ("TFLite (float32)", ".tflite"),
    "tflite_quant": ("TFLite (dynamic-range quantised)", ".quant.tflite"),
}
PARITY_IMAGES = 100  # test images the export must agree on with the Keras model
TOLERANCE = {"savedmodel": 1e-5, "tflite": 1e-4}  # max |p_export - p_keras| allowed per class
QUANT_MAX_DROP = 0.02  # test accuracy the quantised file may lose (absolute) and be offered
ACCURACY_IMAGES = 10_000  # test images the quantised file's accuracy is measured on (at most)
CONVERT_TIMEOUT_S = 300  # one conversion and its check, in the child process
CHILD_THREADS = 1  # TensorFlow threads in the converter process: leave cores to training/pages
_BATCH = 250  # images per interpreter call when measuring accuracy


@dataclass
class ExportCheck:
    """One converted file and what its check measured."""

    fmt: str  # a key of FORMATS
    ok: bool  # passed the check, so it is offered
    size_bytes: int = 0
    images: int = 0  # parity images compared
    top1_agree: int = 0  # of those, how many have the Keras model's top-1
    max_prob_diff: float = 0.0  # largest |p_export - p_keras| over images and classes
    tolerance: float | None = None  # allowed max_prob_diff (None: not required, quantised)
    keras_accuracy: float | None = None  # Keras model on the accuracy images (quantised only)
    accuracy: float | None = None  # the export on the same images (quantised only)
    accuracy_images: int = 0
    images_from: str = ""  # where the check images came from, in words
    seconds: float = 0.0  # conversion and check, wall clock
    problem: str | None = None  # why it is not offered, in a sentence
    path: str = ""  # the cached file

    def sentence(self) -> str:
        """What was checked, in words, for the card."""
        if self.problem:
            return self.problem
        text = (f"Checked on {self.images_from}: the same top-1 as the Keras model on "
                f"{self.top1_agree} of {self.images} images")
        if self.tolerance is not None:
            text += (f", probabilities within {self.tolerance:g} (largest difference "
                     f"{self.max_prob_diff:.1e})")
        else:
            text += f" (largest probability difference {self.max_prob_diff:.3f})"
        if self.accuracy is not None and self.keras_accuracy is not None:
            text += (f"; test accuracy {self.accuracy:.2%} on {self.accuracy_images:,} images "
                     f"(Keras model: {self.keras_accuracy:.2%})")
        return text + "."


def _check_fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UserError(f"Export format {fmt!r} is not offered: choose {', '.join(FORMATS)}.")
    return fmt


def export_folder(entry: ModelEntry, settings: Settings) -> Path:
    """Where this model's exports are cached."""
    return settings.home / "exports" / entry.model_id


def _stem(entry: ModelEntry, fmt: str) -> str:
    return f"{fmt}-{entry.path.stat().st_mtime_ns}"


def cached(entry: ModelEntry, fmt: str, settings: Settings) -> ExportCheck | None:
    """The cached check of this export for the model file as it is now, or None."""
    _check_fmt(fmt)
    try:
        record = export_folder(entry, settings) / f"{_stem(entry, fmt)}.json"
        data = json.loads(record.read_text("utf-8"))
        check = ExportCheck(**data)
    except (OSError, ValueError, TypeError):
        return None
    if check.ok and not Path(check.path).is_file():
        return None  # the file went away (cleaned up): convert again
    return check


def export_bytes(entry: ModelEntry, fmt: str, settings: Settings) -> bytes:
    """The bytes of a checked export (for the download button)."""
    check = cached(entry, fmt, settings)
    if check is None or not check.ok:
        raise UserError(f"The {FORMATS[fmt][0]} export of {entry.name!r} is not ready: press "
                        "its Prepare button first.")
    return Path(check.path).read_bytes()


EXPORT_SIZE_FACTOR = 2  # an export's size for the quota check, in model files (measured:
# a SavedModel zip 1.9× its .keras file, a float TFLite file about 1×)


def export_bytes_of(owner: str, settings: Settings) -> int:
    """What the exports of ``owner``'s models take (they count against the model owner's
    disk quota: the disk quota asks)."""
    total = 0
    for entry in list_models(settings, include_builtin=False):
        if entry.card.get("owner") == owner:
            total += folder_size(export_folder(entry, settings))
    return total


def check_export_room(entry: ModelEntry, settings: Settings, user: User | None) -> None:
    """Refuse an export that would take the model's owner past their disk quota, before
    any byte is written (the size is estimated from the model file)."""
    owner = str(entry.card.get("owner") or "")
    if not owner or user is None:
        return
    try:
        estimate = EXPORT_SIZE_FACTOR * entry.path.stat().st_size
    except OSError:
        return  # a missing file is refused by the conversion with its own sentence
    if user.name == owner:
        check_quota(user, settings, estimate, "this export")
        return
    use = disk_use(owner, settings)
    if use.total + estimate > use.limit:
        raise UserError(f"Exports count against the model owner's disk quota, and {owner} uses "
                        f"{human_bytes(use.total)} of {human_bytes(use.limit)}: this export "
                        f"(about {human_bytes(estimate)}) would take them over it. Ask them to "
                        "make room, or download the .keras file instead. "
                        f"{limit_setting('user_disk_mb')}")


def needs_tensorflow(fmt: str) -> str | None:
    """Why ``fmt`` cannot be made on this server (TensorFlow missing: both formats are its
    own), in a sentence the Export panel shows instead of a Prepare button; else None."""
    if tensorflow_installed():
        return None
    return (f"{FORMATS[fmt][0]} export needs TensorFlow, which is not installed on this "
            "server (it trains on another Keras backend). Download the .keras file and "
            "convert it where TensorFlow is installed, or install it here: pip install "
            "tensorflow.")


def prepare(entry: ModelEntry, fmt: str, settings: Settings, user: User | None = None,
            timeout_s: float = CONVERT_TIMEOUT_S) -> ExportCheck:
    """The checked export: from the cache, else converted now in a separate process.

    A lock per model and format makes two sessions clicking at once convert only once.
    ``user`` (pages pass the signed-in person; None is a trusted caller) must be allowed to
    export: a conversion costs seconds of CPU, so visitors download existing exports only.

    Raises:
        PermissionDenied: ``user`` may not start an export (a visitor, a read-only demo).
        UserError: the conversion crashed or took longer than ``timeout_s``.
    """
    _check_fmt(fmt)
    found = cached(entry, fmt, settings)
    if found is not None:
        return found
    missing = needs_tensorflow(fmt)
    if missing:
        raise UserError(missing)
    authorize(user, "export")
    check_export_room(entry, settings, user)
    folder = export_folder(entry, settings)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{fmt}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            found = cached(entry, fmt, settings)
            if found is not None:
                return found
            env = {**os.environ, "DASHCORE_HOME": str(settings.home),
                   "KERAS_BACKEND": "tensorflow"}  # the converters are TensorFlow's
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "dashcore.models.export_formats", entry.model_id,
                     fmt], capture_output=True, text=True, timeout=timeout_s, env=env,
                    check=False)
            except subprocess.TimeoutExpired:
                raise UserError(f"Converting {entry.name!r} to {FORMATS[fmt][0]} took longer "
                                f"than {timeout_s:.0f} s and was abandoned.") from None
            found = cached(entry, fmt, settings)
            if found is None:
                tail = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
                raise UserError(f"Converting {entry.name!r} to {FORMATS[fmt][0]} failed "
                                f"(exit code {done.returncode}): {tail}")
            return found
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------- check images


def check_images(card: dict[str, Any], settings: Settings
                 ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Test images the model expects, scaled as in training, with their labels.

    The model's own dataset (and class subset) when it can be loaded and fits the input
    shape; else MNIST's test split; else seeded random images without labels.
    """
    from dashcore.datasets.catalog import MNIST, load_dataset
    from dashcore.training.data import select_classes

    shape = tuple(int(d) for d in card.get("input_shape") or (28, 28, 1))
    size = int(np.prod(shape))
    for name in (card.get("dataset"), MNIST):
        if not name:
            continue
        try:
            dataset = load_dataset(str(name), settings)
            classes = card.get("classes") if name == card.get("dataset") else None
            _, _, x_test, y_test, names = select_classes(dataset, classes)
        except (UserError, OSError, ValueError):
            continue
        if (x_test.size // max(1, len(x_test)) != size or len(x_test) == 0
                or len(names) != int(card.get("num_classes") or len(names))):
            continue
        x = (x_test[:ACCURACY_IMAGES].astype(np.float32) / 255.0).reshape(-1, *shape)
        return x, np.asarray(y_test[:ACCURACY_IMAGES]), f"{name} test images"
    rng = np.random.default_rng(0)
    return (rng.random((PARITY_IMAGES, *shape), dtype=np.float32), None,
            "random images (the model's dataset is not available here)")


# ---------------------------------------------------------------- converting (child side)


def _keras_probs(model: Any, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i:i + _BATCH], training=False), np.float32)
                           for i in range(0, len(x), _BATCH)])


def tflite_bytes(model: Any, quantise: bool) -> bytes:
    """The model as a ``.tflite`` flatbuffer (dynamic-range quantised weights if asked)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantise:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def tflite_probs(content: bytes, x: np.ndarray) -> np.ndarray:
    """Run a ``.tflite`` model on ``x`` in batches (as a phone would, one call per batch)."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "tf.lite.Interpreter is deprecated": still shipped
        interpreter = tf.lite.Interpreter(model_content=content)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    batch = min(_BATCH, len(x))
    interpreter.resize_tensor_input(inp["index"], [batch, *x.shape[1:]])
    interpreter.allocate_tensors()
    results = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        padded = np.zeros((batch, *x.shape[1:]), np.float32)
        padded[:len(chunk)] = chunk
        interpreter.set_tensor(inp["index"], padded)
        interpreter.invoke()
        results.append(np.array(interpreter.get_tensor(out["index"])[:len(chunk)]))
    return np.concatenate(results)


def savedmodel_zip(model: Any, target: Path) -> Path:
    """``model.export(folder)`` zipped: unzip and ``tf.saved_model.load`` it."""
    with tempfile.TemporaryDirectory(prefix="dashcore-savedmodel-") as tmp:
        folder = Path(tmp) / "savedmodel"
        model.export(str(folder), verbose=False)
        archive = shutil.make_archive(str(Path(tmp) / "export"), "zip", root_dir=tmp,
                                      base_dir="savedmodel")
        atomic_write_with(target, lambda t: shutil.copyfile(archive, t), suffix=".zip")
    return target


def savedmodel_probs(archive: Path, x: np.ndarray) -> np.ndarray:
    """Unzip a SavedModel export and run its ``serve`` endpoint on ``x``."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="dashcore-savedmodel-") as tmp:
        shutil.unpack_archive(str(archive), tmp, "zip")
        loaded = tf.saved_model.load(str(Path(tmp) / "savedmodel"))
        return np.concatenate([np.asarray(loaded.serve(tf.constant(x[i:i + _BATCH])))
                               for i in range(0, len(x), _BATCH)])


def convert_and_check(model: Any, fmt: str, target: Path, x: np.ndarray,
                      y: np.ndarray | None, images_from: str = "test images") -> ExportCheck:
    """Write one export of ``model`` to ``target`` and check it against the model itself."""
    started = time.monotonic()
    _check_fmt(fmt)
    parity = x[:PARITY_IMAGES]
    if fmt == "savedmodel":
        savedmodel_zip(model, target)
        probs = savedmodel_probs(target, parity)
    else:
        content = tflite_bytes(model, quantise=fmt == "tflite_quant")
        atomic_write_with(target, lambda t: t.write_bytes(content), suffix=".tflite")
        probs = tflite_probs(content, parity)
    expected = _keras_probs(model, parity)
    check = ExportCheck(fmt=fmt, ok=True, size_bytes=target.stat().st_size, images=len(parity),
                        top1_agree=int((probs.argmax(1) == expected.argmax(1)).sum()),
                        max_prob_diff=float(np.abs(probs - expected).max()),
                        tolerance=TOLERANCE.get(fmt), images_from=images_from,
                        path=str(target))
    label = FORMATS[fmt][0]
    if fmt == "tflite_quant" and y is not None:
        keras_acc = float((_keras_probs(model, x).argmax(1) == y).mean())
        acc = float((tflite_probs(content, x).argmax(1) == y).mean())
        check.keras_accuracy, check.accuracy, check.accuracy_images = keras_acc, acc, len(x)
        if acc < keras_acc - QUANT_MAX_DROP:
            check.ok = False
            check.problem = (f"Not offered: the {label} file reaches {acc:.2%} test accuracy, "
                             f"more than {QUANT_MAX_DROP:.0%} below the Keras model's "
                             f"{keras_acc:.2%}. Use the float32 TFLite file.")
    elif check.tolerance is not None and (check.top1_agree < check.images
                                          or check.max_prob_diff > check.tolerance):
        check.ok = False
        check.problem = (f"Not offered: the {label} file disagrees with the Keras model "
                         f"(same top-1 on {check.top1_agree} of {check.images} images, largest "
                         f"probability difference {check.max_prob_diff:.1e}, allowed "
                         f"{check.tolerance:g}).")
    check.seconds = round(time.monotonic() - started, 2)
    if not check.ok:
        target.unlink(missing_ok=True)
    return check


def export_entry(entry: ModelEntry, fmt: str, settings: Settings) -> ExportCheck:
    """Convert, check and cache one export of a registry model (runs in the child)."""
    from dashcore.models.registry import load_keras_model

    folder = export_folder(entry, settings)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(entry, fmt)
    for old in folder.glob(f"{fmt}-*"):  # exports of an older version of the file
        if not old.name.startswith(stem):
            old.unlink(missing_ok=True)
    model = load_keras_model(entry.path)
    x, y, images_from = check_images(entry.card, settings)
    check = convert_and_check(model, fmt, folder / f"{stem}{FORMATS[fmt][1]}", x, y,
                              images_from)
    atomic_write_json(folder / f"{stem}.json", asdict(check))
    return check


def main(argv: list[str] | None = None) -> int:
    """``python -m dashcore.models.export_formats <model_id> <fmt>``: the converter process."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dashcore.models.export_formats <model_id> <format>",
              file=sys.stderr)
        return 2
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < 5:
            os.setpriority(os.PRIO_PROCESS, 0, 5)
    except (OSError, AttributeError):
        pass
    limit_threads(CHILD_THREADS)
    try:  # a wrong DASHCORE_* value (SettingsError) is a UserError too: one sentence
        settings = get_settings()
        check = export_entry(get_entry(args[0], settings), _check_fmt(args[1]), settings)
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(check.sentence(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
