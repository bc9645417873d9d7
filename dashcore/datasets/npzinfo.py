"""What an ``.npz`` holds, read from its ``.npy`` headers before any array is decompressed.

A ``.npz`` is a zip of ``.npy`` files; each starts with a small header giving the array's
shape and dtype. Reading only those headers tells how many images a file holds and how
many bytes it would take in memory, so a 1 MB file of 20,000 blank 256×256 images (1.3 GB
once decompressed) is refused before a byte of it is inflated. Object arrays (pickles)
are refused from the header too.

Example:
    >>> info = read_npz_headers(data)  # doctest: +SKIP
    >>> info["x_train"].shape
    (60000, 28, 28)
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as npy_format

from dashcore.errors import UserError

MAX_MEMBERS = 64  # an .npz of a dataset holds a handful of arrays; refuse archives of thousands


@dataclass(frozen=True)
class ArrayHeader:
    """One array as its ``.npy`` header describes it (nothing decompressed yet)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        """Bytes the array takes in memory once loaded."""
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo, key: str) -> ArrayHeader:
    """Shape and dtype of one member, reading only its first bytes."""
    try:
        with archive.open(member) as stream:
            head = io.BytesIO(stream.read(65_536 + 16))  # headers are padded, never this long
        version = npy_format.read_magic(head)
        if version == (1, 0):
            shape, _fortran, dtype = npy_format.read_array_header_1_0(head)
        elif version == (2, 0):
            shape, _fortran, dtype = npy_format.read_array_header_2_0(head)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise UserError(f"{key} could not be read ({type(exc).__name__}): the file may be "
                        "damaged or truncated. Save it again with numpy.savez.") from None
    if dtype.hasobject:
        raise UserError(f"{key} holds Python objects, which are not allowed for safety: store "
                        "plain numeric arrays.")
    return ArrayHeader(tuple(int(d) for d in shape), dtype)


def read_npz_headers(data: bytes) -> dict[str, ArrayHeader]:
    """Every ``.npy`` member's shape and dtype, by key (``x_train.npy`` → ``x_train``).

    Raises:
        UserError: a damaged archive, far too many members, or an object (pickled) array.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"The .npz file could not be read ({type(exc).__name__}): it may be "
                        "damaged or truncated. Save it again with numpy.savez.") from None
    with archive:
        members = [m for m in archive.infolist() if m.filename.endswith(".npy")]
        if len(archive.infolist()) > MAX_MEMBERS:
            raise UserError(f"The .npz holds {len(archive.infolist()):,} files; a dataset needs "
                            "four arrays (x_train, y_train, x_test, y_test). Save just those "
                            "with numpy.savez.")
        return {m.filename[: -len(".npy")]: _read_header(archive, m, m.filename[:-4])
                for m in members}
