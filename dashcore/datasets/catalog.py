"""The datasets a person can pick: built-in MNIST and Fashion-MNIST, "Your drawings" and
uploads, listed and loaded by name.

A new built-in dataset goes here: its name in :mod:`dashcore.datasets.base` and its
loader in :data:`BUILTINS`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dashcore.artifacts import datasets_folder
from dashcore.datasets.base import (
    _NAME_RE,
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
from dashcore.settings import Settings
from dashcore.tables.stored import is_table_file, load_table_file

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


def list_datasets(settings: Settings) -> list[str]:
    """Names of every dataset a page can offer: built-ins, then uploads, then drawings."""
    names = list(BUILTINS)
    # Skip dot-files: atomic writes leave ".<name>.<random>.npz" temps while saving.
    names += [UPLOAD_PREFIX + n[:-len(".npz")] for n in datasets_folder(settings).names(".npz")
              if not n.startswith(".")]
    if drawings_file(settings).is_file():
        names.append(DRAWINGS)
    return names


def load_dataset(name: str, settings: Settings) -> Dataset:
    """Load a dataset by the name :func:`list_datasets` gave.

    Raises:
        NotFoundError: for a name that does not exist.
        UserError: when Fashion-MNIST cannot be downloaded.
    """
    if name in BUILTINS:
        return BUILTINS[name]()
    if name.startswith(UPLOAD_PREFIX):
        file_name = f"{upload_stem(name)}.npz"  # a name, never a path out of the folder
        folder = datasets_folder(settings)
        if not folder.exists(file_name):
            raise NotFoundError(f"Dataset {name!r} no longer exists: pick another one.")
        path = folder.local_path(file_name)  # the file, or a cached copy from the store
        return _uploads_cache.load(path, settings)
    if name == DRAWINGS:
        return load_drawings(settings)
    raise NotFoundError(f"Unknown dataset {name!r}: choose one of "
                        f"{', '.join(list_datasets(settings))}.")


class _UploadCache:
    """Loaded uploads shared by every session, within a memory budget (least recent out).

    Each entry is keyed by path and modification time, so a replaced file is reloaded. A
    dataset larger than the whole budget is loaded for its caller but not kept.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, int], Dataset] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _size(dataset: Dataset) -> int:
        return sum(a.nbytes for a in (dataset.x_train, dataset.y_train, dataset.x_test,
                                      dataset.y_test))

    def held_bytes(self) -> int:
        """Bytes of images and labels the cache holds now."""
        with self._lock:
            return sum(self._size(d) for d in self._entries.values())

    def clear(self) -> None:
        """Forget every loaded upload (tests; a changed budget)."""
        with self._lock:
            self._entries.clear()

    def load(self, path: Path, settings: Settings) -> Dataset:
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        limits = settings.limits
        if is_table_file(path):  # a CSV table stored by dashcore.tables.importing
            dataset = load_table_file(path, UPLOAD_PREFIX + path.stem)
        else:
            dataset = parse_dataset_npz(path.read_bytes(), name=UPLOAD_PREFIX + path.stem,
                                        max_decoded_bytes=limits.dataset_mb * 1_000_000)
            names = stored_class_names(path, dataset.num_classes)  # zips and webcam sets
            if names is not None:
                dataset = replace(dataset, class_names=names,
                                  source="Made from your own images.")
        for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
            array.setflags(write=False)  # shared by every session: nobody may modify it
        budget = limits.dataset_cache_mb * 1_000_000
        with self._lock:
            for stale in [k for k in self._entries if k[0] == key[0]]:
                del self._entries[stale]  # an older version of the same file
            if self._size(dataset) <= budget:
                self._entries[key] = dataset
            while sum(self._size(d) for d in self._entries.values()) > budget:
                self._entries.popitem(last=False)
        return dataset


_uploads_cache = _UploadCache()


def upload_stem(name: str) -> str:
    """The file stem of an uploaded dataset named ``upload:<name>``, never a path.

    Raises:
        NotFoundError: a name no upload could have (a path, a dot-file, odd characters).
    """
    stem = name[len(UPLOAD_PREFIX):] if name.startswith(UPLOAD_PREFIX) else name
    if not _NAME_RE.match(stem):
        raise NotFoundError(f"There is no uploaded dataset called {stem!r}: pick one from the "
                            "list.")
    return stem
