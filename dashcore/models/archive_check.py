"""Static checks of an uploaded model file, before anything loads it: name, size, archive
layout, the layers its config names, and its input and output shapes.

Nothing here imports Keras's loader; :mod:`dashcore.models.upload` runs the real load in
a sandboxed child process only after these checks pass.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from dashcore.errors import UserError
from dashcore.text import name_problem

CONFIG_MAX_BYTES = 16 << 20  # largest model config we parse, in bytes
MAX_ARCHIVE_MEMBERS = 1_000  # files a .keras may hold (a model with assets has a few)
UNPACKED_FACTOR = 4  # a .keras may unpack to at most this many times the upload limit
ALLOWED_SUFFIXES = (".keras", ".h5", ".hdf5")
ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_FILENAME = 255  # longest upload file name kept on a card, in characters (a file system's)
MIN_SIDE = 8  # smallest image side a model may expect, in pixels (as for datasets)

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
    if len(raw) > MAX_FILENAME:
        raise UploadRefused("bad_name", f"The file name is {len(raw):,} characters long; at most "
                            f"{MAX_FILENAME} are kept. Rename the file, e.g. 'my_model.keras'.")
    problem = name_problem(raw)
    if problem:
        raise UploadRefused("bad_name", f"The file name contains {problem}. Rename the file "
                            "with plain characters, e.g. 'my_model.keras'.")
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
    _check_lookup_files(objects)
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


def _check_lookup_files(objects: list[dict[str, Any]]) -> None:
    """Refuse lookup layers whose vocabulary is a file path on this server, in a sentence."""
    for obj in objects:
        config = obj.get("config")
        if isinstance(config, dict) and isinstance(config.get("vocabulary"), str):
            raise UploadRefused("custom_object", f"This model's {obj.get('class_name')!s:.40} "
                                "layer reads its vocabulary from a file path "
                                f"({config['vocabulary'][:80]!r}) instead of holding it, which "
                                "would read files on this server. Build the layer with its "
                                "vocabulary as a list and save the model again.")


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


def _zip_entry_count(path: Path) -> int | None:
    """Entries a zip's end record declares, read from its last bytes (None: no record).

    Cheap whatever the archive holds: ``zipfile`` would build an object per entry first
    (about 120 MB for 200,000 entries) before any check could refuse it.
    """
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 65_557))  # end record (22 bytes) + the longest comment
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        total = struct.unpack_from("<H", tail, at + 10)[0]
        locator = tail[max(0, at - 20):at]
        if total != 0xFFFF or not locator.startswith(b"PK\x06\x07"):
            return total
        # zip64 (over 65,535 entries): the locator points at the zip64 end record
        handle.seek(struct.unpack_from("<Q", locator, 8)[0])
        record = handle.read(56)
    if not record.startswith(b"PK\x06\x06") or len(record) < 40:
        return None
    return struct.unpack_from("<Q", record, 32)[0]


def _inspect_keras(path: Path, limit_mb: int) -> ArchiveInfo:
    declared = _zip_entry_count(path)
    if declared is not None and declared > MAX_ARCHIVE_MEMBERS:
        raise UploadRefused("not_a_model", f"The archive holds {declared:,} files; a .keras "
                            f"model holds a handful (at most {MAX_ARCHIVE_MEMBERS:,} are "
                            "inspected). Save the model again with model.save(...).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:  # a zip64 archive the end record hid
                raise UploadRefused("not_a_model", f"The archive holds {len(members):,} files;"
                                    " a .keras model holds a handful. Save the model again "
                                    "with model.save(...).")
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
    raise not_a_model(path.name, head)


def not_a_model(filename: str, head: bytes) -> UploadRefused:
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
