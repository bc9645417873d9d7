"""Importing an untrusted model file into the registry, safely.

Uploading a model is the most dangerous thing a user can do here: a Keras file is a
program description, and ``safe_mode=True`` is not a sandbox (several CVEs bypassed it
through ``config.json`` or legacy ``.h5``). So an upload goes through, in order:

1. the file name (``.keras`` or ``.h5`` only, no folders) and the size limit;
2. the bytes are written to a quarantine folder under ``settings.uploads_dir`` (never
   under the user's name);
3. the archive is inspected *without loading it*: the model config is parsed as JSON and
   any Lambda layer, custom object or class outside Keras's own layers, initializers,
   regularizers, constraints and dtype policies is refused (arbitrary-code risk);
4. a separate Python process (:mod:`dashcore.model_check`) loads it with
   ``safe_mode=True`` under a wall-clock time limit and an address-space limit, checks
   the input and output shapes, runs one forward pass and re-saves it as a clean
   ``.keras`` (an ``.h5`` becomes ``.keras`` here);
5. only then is that clean file moved into the registry, atomically, with its card.

On any failure nothing is written to the registry and the quarantine folder is removed.
Each refusal is an :class:`UploadRefused` with a ``code`` tests and pages can rely on.

Example:
    >>> entry = import_model(uploaded.getvalue(), uploaded.name)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from dashcore.atomic import atomic_write_json, atomic_write_with
from dashcore.auth import User, authorize
from dashcore.errors import UserError
from dashcore.registry import ModelEntry, card_file, check_model_id, model_file, new_model_id
from dashcore.settings import Settings, get_settings

# The child process imports TensorFlow, which reserves ~2.2 GB of virtual address space
# before doing anything (measured here: VmPeak 2.2 GB, RSS 0.7 GB for a small CNN; it
# aborts with bad_alloc under a 2 GB limit and loads fine under 3 GB). 4 GB leaves
# ~1.8 GB for the model itself: ample for the 100 MB upload limit, small enough that a
# hostile file cannot exhaust a shared server.
CHECK_MEMORY_MB = 4096  # RLIMIT_AS of the checker process, in megabytes
CHECK_TIMEOUT_S = 120.0  # wall-clock limit of the checker, in seconds (cold TF import ~5-9 s)
CHECK_CPU_S = 240  # RLIMIT_CPU backstop of the checker, in CPU seconds
CONFIG_MAX_BYTES = 16 << 20  # largest model config we parse, in bytes
UNPACKED_FACTOR = 4  # a .keras may unpack to at most this many times the upload limit
ALLOWED_SUFFIXES = (".keras", ".h5", ".hdf5")
ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MIN_SIDE = 8  # smallest image side a model may expect, in pixels (as for datasets)
STALE_QUARANTINE_S = 3600.0  # quarantine folders older than this (seconds) are leftovers

# Layers that run arbitrary Python or load other files: refused even though Keras ships them.
_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"}
_FOREIGN_LAYERS = {"TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
# Serialisation markers Keras writes for plain values.
_MARKERS = {"__tuple__", "__keras_tensor__", "__numpy__", "__bytes__", "__ellipsis__",
            "__slice__"}
_EXTRA_CLASSES = {"Functional", "Sequential", "Model"}
_CLASS_MODULES = ("layers", "models", "initializers", "regularizers", "constraints",
                  "optimizers", "optimizers.schedules", "losses", "metrics", "dtype_policies",
                  "mixed_precision", "random")
_FUNCTION_MODULES = ("activations", "losses", "metrics")

_check_slots = threading.Semaphore(1)  # one checker (≈1 core, ≤4 GB) at a time per server


class UploadRefused(UserError):
    """An uploaded model file was refused; ``code`` says which check failed.

    Codes: ``bad_name``, ``extension``, ``empty``, ``too_large``, ``not_a_model``,
    ``truncated``, ``weights_only``, ``lambda``, ``custom_object``, ``shapes``,
    ``load_failed``, ``timeout``, ``crashed``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ArchiveInfo:
    """What the archive inspection found, before anything was loaded."""

    format: str  # "keras" or "h5"
    config: dict[str, Any]
    keras_version: str | None = None
    class_names: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- name and size


def check_filename(filename: str) -> str:
    """The file's suffix (``.keras`` / ``.h5``) after refusing folders and other types."""
    raw = filename or ""
    if "/" in raw or "\\" in raw or raw.startswith(".") or "\x00" in raw:
        raise UploadRefused("bad_name", f"The file name {raw!r} contains a folder path or "
                            "starts with a dot. Upload a plain file name such as "
                            "'my_model.keras'; models are always stored under a new id in "
                            "the models folder.")
    suffix = Path(raw).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadRefused("extension", f"{raw!r} is not a Keras model file: expected a "
                            "'.keras' or legacy '.h5' file, got "
                            f"{suffix or 'no extension'!r}. Save your model with "
                            "model.save('my_model.keras') and upload that file.")
    return ".h5" if suffix == ".hdf5" else suffix


def check_size(size: int, filename: str, limit_mb: int) -> None:
    """Refuse empty files and files over the upload limit."""
    if size == 0:
        raise UploadRefused("empty", f"{filename!r} is empty (0 bytes). The upload may have "
                            "been interrupted: save the model again and re-upload it.")
    if size > limit_mb << 20:
        raise UploadRefused("too_large", f"{filename!r} is {size / 2**20:.1f} MB, over the "
                            f"{limit_mb} MB upload limit. Upload a smaller model, or ask the "
                            "administrator to raise DASHCORE_UPLOAD_MB.")


# ---------------------------------------------------------------- archive inspection


@lru_cache(maxsize=1)
def _allowed_names() -> tuple[frozenset[str], frozenset[str]]:
    """(class names, function names) that Keras itself ships in its public namespaces."""
    import importlib
    import inspect

    classes: set[str] = set(_EXTRA_CLASSES)
    for name in _CLASS_MODULES:
        module = importlib.import_module(f"keras.{name}")
        classes.update(n for n in dir(module) if inspect.isclass(getattr(module, n)))
    functions: set[str] = set()
    for name in _FUNCTION_MODULES:
        module = importlib.import_module(f"keras.{name}")
        functions.update(n for n in dir(module) if not n.startswith("_")
                         and inspect.isfunction(getattr(module, n)))
    functions -= {"get", "serialize", "deserialize"}
    return frozenset(classes - _CODE_LAYERS - _FOREIGN_LAYERS), frozenset(functions)


def _is_keras_module(module: Any) -> bool:
    return module is None or module == "keras" or str(module).startswith("keras.")


def _iter_objects(config: Any) -> list[dict[str, Any]]:
    """Every serialised object (a dict with ``class_name``) in a config, iteratively."""
    found, stack = [], [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node:
                found.append(node)
            stack.extend(v for k, v in node.items() if k != "compile_config")
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check_config(config: dict[str, Any]) -> list[str]:
    """Refuse Lambda layers and custom objects; returns the layer class names found.

    ``compile_config`` is skipped: models are always loaded with ``compile=False``, and
    Keras then never deserialises it (a custom loss does not stop a model being shared).
    """
    classes, functions = _allowed_names()
    objects = _iter_objects(config)
    if any(str(obj.get("class_name")) in _CODE_LAYERS for obj in objects):
        raise UploadRefused("lambda", "This model contains a Lambda layer. A Lambda layer "
                            "stores Python code that would run on this server when the model "
                            "is loaded (arbitrary code execution), so uploads with one are "
                            "refused. Replace it with built-in Keras layers (for example "
                            "Rescaling or Reshape) and save the model again.")
    layer_names: list[str] = []
    for obj in objects:
        class_name = str(obj.get("class_name"))
        module, registered = obj.get("module"), obj.get("registered_name")
        if class_name in _MARKERS:
            continue
        if class_name == "function":
            if (isinstance(obj.get("config"), str) and obj["config"] in functions
                    and (module in (None, "builtins") or _is_keras_module(module))):
                continue
            label = f"the function {obj.get('config')!r}"
        elif (_is_keras_module(module) and class_name in classes
              and registered in (None, class_name)):
            if isinstance(obj.get("config"), dict) and "name" in obj["config"]:
                layer_names.append(class_name)
            continue
        else:
            label = f"{class_name!r}" + (f" (registered as {registered!r})"
                                         if registered and registered != class_name else "")
            label += f" from module {module!r}" if module else ""
        raise UploadRefused("custom_object", f"This model uses {label}, which is not one of "
                            "Keras's built-in layers or objects. Custom objects are "
                            "refused because loading them runs code from outside Keras "
                            "(arbitrary code execution risk). Rebuild the model from built-in "
                            "Keras layers only, save it again and re-upload it.")
    _check_static_input(objects)
    return layer_names


def _check_static_input(objects: list[dict[str, Any]]) -> None:
    """Refuse a wrong input shape already visible in the config (saves a checker run)."""
    shapes = []
    for obj in objects:
        config = obj.get("config")
        if obj.get("class_name") == "InputLayer" and isinstance(config, dict):
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            if isinstance(shape, list) and len(shape) >= 2:
                shapes.append(shape[1:])
    if len(shapes) == 1 and all(d is None or isinstance(d, int) for d in shapes[0]):
        check_input_shape(shapes[0])


def _parse_json(raw: bytes | str, where: str) -> dict[str, Any]:
    if len(raw) > CONFIG_MAX_BYTES:
        raise UploadRefused("not_a_model", f"The model's {where} is over "
                            f"{CONFIG_MAX_BYTES >> 20} MB, far larger than any real model "
                            "description (a zip bomb?); refusing to parse it. Upload a file "
                            "written by model.save('my_model.keras').")
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError):
        raise UploadRefused("truncated", f"The model's {where} is not valid JSON: the file is "
                            "damaged or truncated. Save the model again and re-upload it."
                            ) from None
    if not isinstance(config, dict):
        raise UploadRefused("not_a_model", f"The model's {where} is not a Keras model config.")
    return config


def _inspect_keras(path: Path, limit_mb: int) -> ArchiveInfo:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for member in members:
                name = member.filename
                if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                    raise UploadRefused("not_a_model", f"The archive holds an entry {name!r} "
                                        "that points outside it; this is not a file Keras "
                                        "writes. Save the model again with model.save(...).")
            unpacked = sum(m.file_size for m in members)
            if unpacked > limit_mb * UNPACKED_FACTOR << 20:
                raise UploadRefused("too_large", f"The archive unpacks to {unpacked >> 20} MB, "
                                    f"over {limit_mb * UNPACKED_FACTOR} MB. Upload a smaller "
                                    "model.")
            names = {m.filename for m in members}
            if "config.json" not in names:
                raise UploadRefused("not_a_model", "This zip archive is not a Keras model: it "
                                    "has no config.json (found: "
                                    f"{', '.join(sorted(names)[:5]) or 'nothing'}). Save the "
                                    "whole model with model.save('my_model.keras').")
            with archive.open("config.json") as member:  # bounded: a zip bomb stops here
                config = _parse_json(member.read(CONFIG_MAX_BYTES + 1), "config.json")
            meta = {}
            if "metadata.json" in names:
                try:
                    with archive.open("metadata.json") as member:
                        meta = json.loads(member.read(1 << 16))
                except ValueError:
                    meta = {}
    except zipfile.BadZipFile:
        raise UploadRefused("truncated", "The file starts like a .keras archive but cannot "
                            "be read to the end: it is truncated or damaged (an interrupted "
                            "download or copy?). Save the model again and re-upload it."
                            ) from None
    except (zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise UploadRefused("truncated", f"The .keras archive is damaged ({type(exc).__name__})"
                            ". Save the model again and re-upload it.") from None
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    return ArchiveInfo("keras", config, version, check_config(config))


def _inspect_h5(path: Path) -> ArchiveInfo:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version")
            has_weights = len(handle.keys()) > 0
    except (OSError, ValueError):
        raise UploadRefused("truncated", "The file starts like an HDF5 (.h5) file but cannot "
                            "be read: it is truncated or damaged. Save the model again with "
                            "model.save('my_model.h5') and re-upload it.") from None
    if raw is None:
        what = "weights only" if has_weights else "no model"
        raise UploadRefused("weights_only", f"This .h5 file holds {what} (no model_config), "
                            "so the architecture is unknown. Save the whole model with "
                            "model.save('my_model.h5') or model.save('my_model.keras'), not "
                            "model.save_weights(...).")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    config = _parse_json(str(raw), "model_config")
    return ArchiveInfo("h5", config, str(version) if version else None, check_config(config))


def sniff_format(head: bytes) -> str | None:
    """"keras" for a zip, "h5" for HDF5, else None (judged by content, not the name)."""
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head.startswith(HDF5_MAGIC):
        return "h5"
    return None


def inspect_archive(path: Path, limit_mb: int = 100) -> ArchiveInfo:
    """Read a model file's config without loading it; refuse anything unsafe or not a model."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    kind = sniff_format(head)
    if kind == "keras":
        return _inspect_keras(path, limit_mb)
    if kind == "h5":
        return _inspect_h5(path)
    raise _not_a_model(path.name, head)


def _not_a_model(filename: str, head: bytes) -> UploadRefused:
    return UploadRefused("not_a_model", f"{filename!r} is not a Keras model: a .keras file is "
                         "a zip archive and a .h5 file is HDF5, but this one starts with "
                         f"{head[:8]!r}. Upload a file written by model.save('my_model.keras')"
                         " or model.save('my_model.h5').")


# ---------------------------------------------------------------- shapes


def _fmt(shape: Any) -> str:
    return "×".join("?" if d is None else str(d) for d in shape) or "a scalar"


def check_input_shape(input_shape: list[Any]) -> tuple[int, int]:
    """(image height, width) a model input takes; refuses inputs grey images cannot fill.

    Accepted (batch axis removed): ``(H, W, 1)``, ``(H, W)`` (rows for recurrent models)
    or flat ``(H*W,)`` with ``H == W``; unknown sizes (``None``) count as 28.
    """
    dims = list(input_shape)
    side: tuple[int, int] | None = None
    if (len(dims) == 3 and dims[2] == 1) or len(dims) == 2:
        side = (dims[0] or 28, dims[1] or 28)
    elif len(dims) == 1 and dims[0]:
        root = math.isqrt(int(dims[0]))
        side = (root, root) if root * root == dims[0] else None
    if side is None or min(side) < MIN_SIDE:
        channels = (f" It has {dims[-1]} channels (colour images?)."
                    if len(dims) == 3 and dims[-1] not in (None, 1) else "")
        raise UploadRefused("shapes", f"This model expects inputs of shape {_fmt(dims)}, which "
                            "grey images cannot fill." + channels + " The workbench feeds "
                            "grey H×W images, so the input must be (H, W, 1), (H, W) or flat "
                            "(H*W,) with H = W ≥ 8, e.g. keras.Input((28, 28, 1)) for MNIST.")
    return side


def check_output_shape(output_shape: list[Any]) -> int:
    """Number of classes; refuses outputs that are not one score per class (≥ 2 units).

    One unit is a regression or a binary score, which the confusion matrix and /draw
    cannot show.
    """
    outs = list(output_shape)
    if len(outs) != 1 or not outs[0] or outs[0] < 2:
        raise UploadRefused("shapes", f"This model's output has shape {_fmt(outs)}, but the "
                            "workbench needs one score per class: a vector of 2 or more "
                            "units, e.g. Dense(10, activation='softmax') for the 10 digits. "
                            "Regression (1 unit) and multi-axis outputs cannot be evaluated "
                            "or drawn on here.")
    return int(outs[0])


def check_io_shapes(input_shape: list[Any], output_shape: list[Any]) -> tuple[int, int]:
    """(image height, width) after refusing input or output shapes no page can use."""
    side = check_input_shape(input_shape)
    check_output_shape(output_shape)
    return side


# ---------------------------------------------------------------- the child process


def _child_env() -> dict[str, str]:
    """A small environment for the checker: one thread, no GPU, quiet TensorFlow."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "KERAS_BACKEND",
            "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    package_root = str(Path(__file__).resolve().parents[1])
    env.update(PYTHONPATH=package_root, PYTHONNOUSERSITE="1", TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1",
               TF_NUM_INTEROP_THREADS="1", TF_ENABLE_ONEDNN_OPTS="0")
    return env


def run_checker(src: Path, out: Path, limit_mb: int, timeout_s: float = CHECK_TIMEOUT_S,
                memory_mb: int = CHECK_MEMORY_MB) -> dict[str, Any]:
    """Load ``src`` in a separate, limited process; returns its report (``ok`` True).

    The child sets its own resource limits before importing TensorFlow (``preexec_fn``
    is unsafe in a threaded server) and runs in its own session so a timeout kills it and
    anything it started.
    """
    result = out.with_name("result.json")
    command = [sys.executable, "-m", "dashcore.model_check", str(src), str(out), str(result),
               "--memory-mb", str(memory_mb), "--cpu-s", str(CHECK_CPU_S),
               "--file-mb", str(limit_mb * UNPACKED_FACTOR), "--limit-mb", str(limit_mb)]
    with _check_slots:
        proc = subprocess.Popen(command, cwd=str(out.parent), env=_child_env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise UploadRefused("timeout", f"Loading this model took longer than {timeout_s:.0f}"
                                " s in the safety checker, so it was stopped. Real models of "
                                "this size load in seconds: the file may be hostile or "
                                "enormous. Try a smaller model.") from None
    try:
        report = json.loads(result.read_text("utf-8"))
    except (OSError, ValueError):
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise UploadRefused("crashed", "The safety checker stopped before finishing (exit code "
                            f"{proc.returncode}: {tail[0][:200]}). It may have run out of its "
                            f"{memory_mb} MB memory limit. Try a smaller or simpler model."
                            ) from None
    if not report.get("ok"):
        raise UploadRefused(str(report.get("code", "load_failed")), str(report.get("message")))
    return report


# ---------------------------------------------------------------- the whole import


def _display_name(filename: str, name: str | None) -> str:
    text = (name or "").strip() or Path(filename).stem.strip() or "uploaded model"
    return text[:80]


def import_model(data: bytes, filename: str, name: str | None = None,
                 owner: str | None = None, settings: Settings | None = None,
                 timeout_s: float = CHECK_TIMEOUT_S, memory_mb: int = CHECK_MEMORY_MB,
                 user: User | None = None) -> ModelEntry:
    """Check an uploaded model file and, only if every check passes, add it to the registry.

    Args:
        data: the file's bytes, as uploaded.
        filename: the name the browser sent (only its extension is used; never a path).
        name: display name for the card. Defaults to the file name without extension.
        owner: the signed-in user, recorded on the card (``None`` without accounts).
        settings: where the registry and quarantine live. Defaults to ``get_settings()``.
        timeout_s, memory_mb: limits of the checker process.
        user: the signed-in person (pages pass it): must be allowed to upload, and
            becomes the owner. ``None`` is a trusted caller (a script, a test).

    Raises:
        PermissionDenied: ``user`` may not upload (a visitor, or a read-only demo).
        UploadRefused: with a ``code`` and a message saying what was found and the fix.
    """
    authorize(user, "upload")
    if user is not None:
        owner = user.name
    settings = (settings or get_settings()).ensure_dirs()
    limit_mb = settings.limits.upload_mb
    check_filename(filename)
    check_size(len(data), filename, limit_mb)
    kind = sniff_format(data[:8])  # by content: a .h5 renamed .keras still works
    if kind is None:  # refuse random bytes before writing anything
        raise _not_a_model(filename, data[:8])
    suffix = ".keras" if kind == "keras" else ".h5"
    _sweep_stale(settings.uploads_dir / "quarantine")
    quarantine = settings.uploads_dir / "quarantine" / secrets.token_hex(8)
    quarantine.mkdir(parents=True)
    try:
        src = quarantine / f"upload{suffix}"
        src.write_bytes(data)
        info = inspect_archive(src, limit_mb)  # fast refusals before spawning TensorFlow
        clean = quarantine / "clean" / "model.keras"
        clean.parent.mkdir()
        report = run_checker(src, clean, limit_mb, timeout_s, memory_mb)
        card = {
            "name": _display_name(filename, name),
            "source": "uploaded",
            "original_filename": Path(filename).name,
            "format": info.format,
            "saved_with_keras": info.keras_version,
            "owner": owner,
            "input_shape": report["input_shape"],
            "num_classes": report["num_classes"],
            "params": report["params"],
            "architecture": " → ".join(report["layers"]),
            "output_activation": report.get("output_activation"),
            "sha256": hashlib.sha256(data).hexdigest(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return _register(clean, card, settings)
    finally:
        shutil.rmtree(quarantine, ignore_errors=True)


def _sweep_stale(folder: Path, max_age_s: float = STALE_QUARANTINE_S) -> None:
    """Remove quarantine folders left by a server that died mid-check."""
    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_s
    for child in folder.iterdir():
        try:
            if child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue


def _register(clean: Path, card: dict[str, Any], settings: Settings) -> ModelEntry:
    """Move a checked file into the registry: model file first, then the card."""
    model_id = check_model_id(new_model_id(card["name"]))
    path = model_file(model_id, settings)
    atomic_write_with(path, lambda tmp: shutil.copyfile(clean, tmp), suffix=".keras")
    full = {**card, "id": model_id}
    try:
        atomic_write_json(card_file(model_id, settings), full)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ModelEntry(model_id, path, full)
