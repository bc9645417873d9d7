"""Uploaded ``.npz`` datasets: checked before they are stored, stored with their owner."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.artifacts import datasets_folder
from dashcore.datasets.base import (
    _NAME_RE,
    MAX_CLASSES,
    MAX_SIDE,
    MIN_SIDE,
    REQUIRED_KEYS,
    UPLOAD_PREFIX,
    Dataset,
)
from dashcore.datasets.npzinfo import ArrayHeader, read_npz_headers
from dashcore.errors import UserError
from dashcore.settings import Settings, limit_setting
from dashcore.text import check_name

# ---------------------------------------------------------------- uploads


def parse_dataset_npz(data: bytes, name: str, max_images: int | None = None,
                      max_bytes: int | None = None,
                      max_decoded_bytes: int | None = None) -> Dataset:
    """Validate an uploaded ``.npz`` and return it as a :class:`Dataset`.

    Expected: ``x_train, y_train, x_test, y_test``; colour images ``N×H×W×3`` or grey ``N×H×W`` or
    ``N×H×W×1``; integer labels ``0..K-1``; matching lengths. Every problem raises a
    :class:`UserError` naming what was found and what is expected. The image count and
    the decompressed size (``max_decoded_bytes``) are checked from the ``.npy`` headers,
    before any array is decompressed.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise UserError(
            f"The file is {len(data) / 1e6:.1f} MB; uploads are limited to "
            f"{max_bytes / 1e6:.0f} MB. Upload a smaller subset. {limit_setting('upload_mb')}"
        )
    if not data:
        raise UserError("The file is empty: upload a .npz made with numpy.savez.")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:4] == b"PK\x03\x04":  # a zip's first bytes, but its directory at the end is gone
            raise UserError(
                f"The file starts like a .npz but is incomplete ({len(data):,} bytes, its end is "
                "missing): it looks truncated. Upload the complete file or save it again."
            )
        raise UserError(
            "This is not a .npz file (numpy.savez output is a zip archive). "
            "Save your arrays with numpy.savez('data.npz', x_train=..., y_train=..., "
            "x_test=..., y_test=...)."
        )
    headers = read_npz_headers(data)
    missing = [key for key in REQUIRED_KEYS if key not in headers]
    if missing:
        raise UserError(
            f"The file is missing {', '.join(missing)}. Found keys: "
            f"{', '.join(sorted(headers)) or 'none'}; expected x_train, y_train, x_test, y_test."
        )
    _check_sizes({key: headers[key] for key in REQUIRED_KEYS}, max_images, max_decoded_bytes)
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"The .npz file could not be read ({type(exc).__name__}): "
                        "it may be damaged or truncated. Save it again with numpy.savez.") from None
    arrays: dict[str, np.ndarray] = {}
    for key in REQUIRED_KEYS:
        try:
            arrays[key] = npz[key]
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, ValueError) and "allow_pickle" in str(exc):
                raise UserError(f"{key} holds Python objects, which are not allowed for "
                                "safety: store plain numeric arrays.") from None
            raise UserError(f"{key} could not be read ({type(exc).__name__}): the file may be "
                            "damaged or truncated. Save it again with numpy.savez.") from None
    x_train = _check_images("x_train", arrays["x_train"])
    x_test = _check_images("x_test", arrays["x_test"])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(f"x_train images are {_hw(x_train)} but x_test images are {_hw(x_test)}: "
                        "both splits must have the same image size.")
    y_train = _check_labels("y_train", arrays["y_train"], len(x_train), "x_train")
    y_test = _check_labels("y_test", arrays["y_test"], len(x_test), "x_test")
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    if num_classes < 2:
        raise UserError("All labels are 0: a classifier needs at least two classes.")
    missing_train = sorted(set(range(num_classes)) - set(np.unique(y_train).tolist()))
    if missing_train:
        raise UserError(f"Class(es) {missing_train} appear in y_test but never in y_train: "
                        "every class needs training examples.")
    return Dataset(
        name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        class_names=tuple(str(i) for i in range(num_classes)), source="Uploaded by a user.",
    )


def _check_sizes(headers: dict[str, ArrayHeader], max_images: int | None,
                 max_decoded_bytes: int | None) -> None:
    """Refuse by image count and decompressed size, from the headers alone."""
    total = sum(headers[key].shape[0] if headers[key].shape else 1
                for key in ("x_train", "x_test"))
    if max_images is not None and total > max_images:
        raise UserError(f"The dataset has {total:,} images; the limit is {max_images:,}. "
                        f"Upload a subset. {limit_setting('dataset_images')}")
    decoded = sum(header.nbytes for header in headers.values())
    if max_decoded_bytes is not None and decoded > max_decoded_bytes:
        raise UserError(f"The arrays take {decoded / 1e6:,.0f} MB once decompressed; the limit "
                        f"is {max_decoded_bytes / 1e6:,.0f} MB. Upload fewer or smaller images "
                        f"(uint8 takes a quarter of float32). {limit_setting('dataset_mb')}")


def _hw(x: np.ndarray) -> str:
    return "×".join(str(d) for d in x.shape[1:])


def _check_images(key: str, x: np.ndarray) -> np.ndarray:
    """Return images as uint8 (N, H, W), or explain what is wrong."""
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    elif x.ndim == 4 and x.shape[-1] != 3:
        raise UserError(f"{key} has {x.shape[-1]} channels (shape {x.shape}); images must be "
                        "grey (N×H×W or N×H×W×1) or RGB colour (N×H×W×3). Drop the alpha "
                        "channel or convert the images first.")
    if x.ndim not in (3, 4):
        raise UserError(f"{key} has shape {x.shape}; expected grey images N×H×W or N×H×W×1 "
                        "(for example 60000×28×28), or colour N×H×W×3.")
    if len(x) == 0:
        raise UserError(f"{key} is empty: each split needs at least one image.")
    height, width = x.shape[1:3]
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise UserError(f"{key} images are {height}×{width}; sides from {MIN_SIDE} to {MAX_SIDE} "
                        "pixels are supported.")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.dtype.kind not in "uif":
        raise UserError(f"{key} has dtype {x.dtype}; expected numbers (uint8 0–255 or floats "
                        "0–1).")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UserError(f"{key} contains NaN or infinite values: clean them before uploading.")
    low, high = float(x.min()), float(x.max())
    if x.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        scaled = np.multiply(x, 255, out=x if x.flags.writeable else None)  # no second copy
        return np.rint(scaled, out=scaled).astype(np.uint8)
    if low >= 0 and high <= 255:
        return (np.rint(x) if x.dtype.kind == "f" else x).astype(np.uint8)
    raise UserError(f"{key} pixel values range from {low:g} to {high:g}; expected 0–255 "
                    "(or 0–1 for floats).")


def _check_labels(key: str, y: np.ndarray, expected_len: int, images_key: str) -> np.ndarray:
    """Return labels as int64 (N,), or explain what is wrong."""
    if y.ndim == 2 and y.shape[1] > 1 and set(np.unique(y).tolist()) <= {0, 1}:
        raise UserError(f"{key} looks one-hot encoded (shape {y.shape}); upload integer class "
                        "labels instead, e.g. y.argmax(axis=1).")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(f"{key} has shape {y.shape}; expected one integer label per image (N,).")
    if len(y) != expected_len:
        raise UserError(f"{key} has {len(y):,} labels but {images_key} has {expected_len:,} "
                        "images: they must match one to one.")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise UserError(f"{key} holds non-integer values; labels must be whole class numbers "
                            "0, 1, 2, …")
    elif y.dtype.kind not in "iu":
        raise UserError(f"{key} has dtype {y.dtype}; labels must be integers 0, 1, 2, …")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise UserError(f"{key} has a negative label ({int(y.min())}); labels must start at 0.")
    if y.max() >= MAX_CLASSES:
        raise UserError(f"{key} has label {int(y.max())}; at most {MAX_CLASSES} classes "
                        f"(labels 0–{MAX_CLASSES - 1}) are supported.")
    return y


def save_uploaded_dataset(name: str, data: bytes, settings: Settings,
                          user: User | None = None) -> Dataset:
    """Validate an upload and store it under ``name``; returns the stored dataset.

    Nothing is written unless the whole file is valid. ``user`` (pages pass the signed-in
    person) must be allowed to upload and is recorded as the owner inside the stored
    ``.npz`` (an ``owner`` string); ``None`` is a trusted caller (a script, a test).

    Raises:
        PermissionDenied: ``user`` may not upload (a visitor, or a read-only demo).
        UserError: an invalid file, a name in use, or a file over a limit.
    """
    authorize(user, "upload")
    clean = check_name("dataset", name, 60)
    if not _NAME_RE.match(clean):
        raise UserError(f"Dataset name {name!r} is not allowed: use 1–60 letters, digits, "
                        "spaces, '-', '_' or '.', starting with a letter or digit.")
    check_quota(user, settings, len(data), "this dataset")
    limits = settings.limits
    dataset = parse_dataset_npz(data, UPLOAD_PREFIX + clean, max_images=limits.dataset_images,
                                max_bytes=limits.upload_mb * 1_000_000,
                                max_decoded_bytes=limits.dataset_mb * 1_000_000)
    folder, target = datasets_folder(settings), f"{clean}.npz"
    if folder.exists(target):
        raise UserError(f"A dataset named {clean!r} already exists: choose another name.")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=dataset.x_train, y_train=dataset.y_train,
                        x_test=dataset.x_test, y_test=dataset.y_test,
                        owner=np.array((user.name if user is not None else None) or ""))
    folder.write_bytes(target, buffer.getvalue())  # atomic: temp + rename, or one PUT
    return dataset


def dataset_owner(name: str, settings: Settings) -> str | None:
    """Who uploaded a dataset (``None`` for built-ins, or uploads made without accounts)."""
    if not name.startswith(UPLOAD_PREFIX):
        return None
    stem = name[len(UPLOAD_PREFIX):]
    if not _NAME_RE.match(stem):  # never a path outside the datasets folder
        return None
    try:
        path = datasets_folder(settings).local_path(f"{stem}.npz")
        with np.load(path, allow_pickle=False) as npz:  # lazy: reads only this member
            owner = str(npz["owner"]) if "owner" in npz.files else ""
    except Exception:  # noqa: BLE001 - an unreadable file has no known owner
        return None
    return owner or None


def dataset_bytes(owner: str, settings: Settings) -> int:
    """What ``owner``'s stored datasets take (the disk quota asks); sizes from the folder."""
    folder = datasets_folder(settings)
    return sum(folder.size(name) for name in folder.names(".npz")
               if not name.startswith(".")
               and dataset_owner(UPLOAD_PREFIX + name[:-len(".npz")], settings) == owner)
