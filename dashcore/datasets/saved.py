"""Storing a dataset built here (from a zip of folders, the webcam) like an uploaded .npz.

The stored file is the same ``<name>.npz`` in the datasets artefact folder an upload makes, so
the catalogue lists it as ``upload:<name>`` and every page (and a remote worker) uses it; it
also holds ``class_names`` and the ``owner``. The name is checked before any work is done
(:func:`check_new_name`); the owner's disk quota and then the atomic write come after
everything else succeeded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashcore.access.auth import User
from dashcore.access.quota import check_quota
from dashcore.artifacts import datasets_folder
from dashcore.datasets.base import _NAME_RE, MAX_CLASS_NAME, UPLOAD_PREFIX, Dataset
from dashcore.errors import UserError
from dashcore.settings import Settings


def check_new_name(name: str, settings: Settings) -> tuple[str, str]:
    """The cleaned dataset name and its file name; refuses bad names and names in use."""
    clean = name.strip()
    if not _NAME_RE.match(clean):
        raise UserError(f"Dataset name {name!r} is not allowed: use 1–60 letters, digits, "
                        "spaces, '-', '_' or '.', starting with a letter or digit.")
    target = f"{clean}.npz"
    if datasets_folder(settings).exists(target):
        raise UserError(f"A dataset named {clean!r} already exists: choose another name.")
    return clean, target


def store_dataset(dataset: Dataset, name: str, settings: Settings,
                  user: User | None = None,
                  extra_arrays: dict[str, np.ndarray] | None = None) -> Dataset:
    """Write ``dataset`` as ``upload:<name>`` with its class names and owner; returns it renamed.

    ``extra_arrays`` are stored beside them (a table's description and raw rows) and
    count against the owner's quota too.

    Uncompressed (``np.savez``): small photos barely compress, and zlib over 60 MB would
    cost seconds on every import.
    """
    clean, target = check_new_name(name, settings)
    extra_arrays = extra_arrays or {}
    size = sum(a.nbytes for a in (dataset.x_train, dataset.y_train, dataset.x_test,
                                  dataset.y_test, *extra_arrays.values()))
    check_quota(user, settings, size, "this dataset")
    arrays = {"x_train": dataset.x_train, "y_train": dataset.y_train, "x_test": dataset.x_test,
              "y_test": dataset.y_test,
              "class_names": np.array(dataset.class_names, dtype=f"<U{MAX_CLASS_NAME}"),
              "owner": np.array((user.name if user is not None else None) or ""),
              **extra_arrays}
    # Straight to the temp file: an in-memory copy first would double the peak memory.
    datasets_folder(settings).write_with(target, lambda tmp: np.savez(tmp, **arrays), ".npz")
    return Dataset(name=UPLOAD_PREFIX + clean, x_train=dataset.x_train, y_train=dataset.y_train,
                   x_test=dataset.x_test, y_test=dataset.y_test,
                   class_names=dataset.class_names, source=dataset.source,
                   table=dataset.table)


def stored_class_names(path: Path, num_classes: int) -> tuple[str, ...] | None:
    """The ``class_names`` a stored dataset carries, if it has a valid list of them."""
    try:
        with np.load(path, allow_pickle=False) as npz:  # lazy: reads only this member
            if "class_names" not in npz.files:
                return None
            names = npz["class_names"]
    except Exception:  # noqa: BLE001 - an unreadable list: fall back to the indices
        return None
    if names.ndim != 1 or len(names) != num_classes or names.dtype.kind != "U":
        return None
    return tuple(str(n) for n in names)
