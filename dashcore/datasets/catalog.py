"""The datasets a person can pick: built-in MNIST and Fashion-MNIST, "Your drawings" and
uploads, listed and loaded by name.

A new built-in dataset goes here: its name in :mod:`dashcore.datasets.base` and its
loader in :data:`BUILTINS`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dashcore.artifacts import datasets_folder
from dashcore.datasets.base import (
    DRAWINGS,
    FASHION,
    FASHION_CLASSES,
    MNIST,
    REQUIRED_KEYS,
    UPLOAD_PREFIX,
    Dataset,
)
from dashcore.datasets.drawings import drawings_file, load_drawings
from dashcore.datasets.saved import stored_class_names
from dashcore.datasets.uploads import parse_dataset_npz
from dashcore.errors import NotFoundError, UserError
from dashcore.settings import Settings, get_settings

# ---------------------------------------------------------------- loading


@lru_cache(maxsize=1)
def load_mnist() -> Dataset:
    """The full MNIST shipped inside the package (LeCun, Cortes & Burges). Cached."""
    with resources.files("dashcore").joinpath("assets/mnist.npz").open("rb") as handle:
        with np.load(handle) as npz:
            arrays = {key: np.ascontiguousarray(npz[key]) for key in REQUIRED_KEYS}
    for array in arrays.values():
        array.setflags(write=False)  # shared by every session: nobody may modify it
    return Dataset(
        name=MNIST,
        class_names=tuple(str(d) for d in range(10)),
        source="MNIST handwritten digits (LeCun, Cortes & Burges), shipped with the package.",
        **arrays,
    )


_fashion_lock = threading.Lock()


def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST through ``keras.datasets`` (needs the network the first time).

    Raises:
        UserError: when it cannot be downloaded, saying MNIST works offline.
    """
    with _fashion_lock:
        return _load_fashion_cached()


@lru_cache(maxsize=1)
def _load_fashion_cached() -> Dataset:
    try:
        (x_train, y_train), (x_test, y_test) = _download_fashion()
    except Exception as exc:  # noqa: BLE001 - any network/IO failure means "not available"
        raise UserError(
            "Could not download Fashion-MNIST: no network (or the download failed: "
            f"{type(exc).__name__}). MNIST is available offline."
        ) from None
    return Dataset(
        name=FASHION, x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test,
        y_test=y_test.astype(np.int64), class_names=FASHION_CLASSES,
        source="Fashion-MNIST (Zalando Research), downloaded through keras.datasets.",
    )


def _download_fashion() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fetch Fashion-MNIST with Keras (imported here: TensorFlow takes seconds to load).

    A separate function so tests can replace the network with a fake.
    """
    from keras.datasets import fashion_mnist

    return fashion_mnist.load_data()


# The built-in datasets, by the name pages show; a new built-in dataset is one entry here.
BUILTINS: dict[str, Callable[[], Dataset]] = {MNIST: load_mnist, FASHION: load_fashion_mnist}


def list_datasets(settings: Settings | None = None) -> list[str]:
    """Names of every dataset a page can offer: built-ins, then uploads, then drawings."""
    settings = settings or get_settings()
    names = list(BUILTINS)
    # Skip dot-files: atomic writes leave ".<name>.<random>.npz" temps while saving.
    names += [UPLOAD_PREFIX + n[:-len(".npz")] for n in datasets_folder(settings).names(".npz")
              if not n.startswith(".")]
    if drawings_file(settings).is_file():
        names.append(DRAWINGS)
    return names


def load_dataset(name: str, settings: Settings | None = None) -> Dataset:
    """Load a dataset by the name :func:`list_datasets` gave.

    Raises:
        NotFoundError: for a name that does not exist.
        UserError: when Fashion-MNIST cannot be downloaded.
    """
    settings = settings or get_settings()
    if name in BUILTINS:
        return BUILTINS[name]()
    if name.startswith(UPLOAD_PREFIX):
        folder, file_name = datasets_folder(settings), f"{name[len(UPLOAD_PREFIX):]}.npz"
        if not folder.exists(file_name):
            raise NotFoundError(f"Dataset {name!r} no longer exists: pick another one.")
        path = folder.local_path(file_name)  # the file, or a cached copy from the store
        return _load_saved_upload(str(path), path.stat().st_mtime_ns)
    if name == DRAWINGS:
        return load_drawings(settings)
    raise NotFoundError(f"Unknown dataset {name!r}: choose one of {', '.join(list_datasets())}.")


@lru_cache(maxsize=8)
def _load_saved_upload(path: str, mtime_ns: int) -> Dataset:
    """Cached by path and modification time, so a replaced file is reloaded."""
    dataset = parse_dataset_npz(Path(path).read_bytes(), name=UPLOAD_PREFIX + Path(path).stem)
    names = stored_class_names(Path(path), dataset.num_classes)  # zips and webcam sets
    if names is not None:
        dataset = replace(dataset, class_names=names, source="Made from your own images.")
    return dataset
