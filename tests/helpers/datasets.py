"""Input builders: small valid datasets, .npz bytes, image files and zips of class folders,
CSV tables, and hostile files (a zip bomb, a forged PNG header)."""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image


def arrays(n_train: int = 30, n_test: int = 12, side: int = 28, classes: int = 3,
           seed: int = 0) -> dict[str, np.ndarray]:
    """A small valid dataset: uint8 noise images, every class in both splits."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def npz(**overrides: np.ndarray | None) -> bytes:
    """``numpy.savez`` bytes of :func:`arrays`, with keys replaced (or dropped with None)."""
    content = arrays()
    for key, value in overrides.items():
        if value is None:
            content.pop(key)
        else:
            content[key] = value
    buffer = io.BytesIO()
    np.savez(buffer, **content)
    return buffer.getvalue()



COLOURS = {"circle": (220, 30, 30), "square": (30, 200, 40), "triangle": (40, 60, 230)}


def picture(colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (20, 16),
            fmt: str = "PNG", seed: int = 0, mode: str = "RGB") -> bytes:
    """An image file of one main colour with a little noise (so files differ by seed)."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour, np.float64) + rng.normal(0, 8, (size[1], size[0], 3)),
                     0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip holding ``files`` (path → bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, blob in files.items():
            archive.writestr(path, blob)
    return buffer.getvalue()


def shapes_zip(per_class: int = 5, top: str = "", formats: tuple[str, ...] = ("PNG", "JPEG"),
               classes: tuple[str, ...] = tuple(COLOURS)) -> bytes:
    """Classes of colour images, alternating formats, optionally inside a folder ``top``."""
    files = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            fmt = formats[i % len(formats)]
            suffix = {"JPEG": "jpg"}.get(fmt, fmt.lower())
            files[f"{top}{name}/{i}.{suffix}"] = picture(COLOURS.get(name, (128, 128, 128)),
                                                         fmt=fmt, seed=c * 100 + i)
    return make_zip(files)



def bomb_npz(images: int = 2_000, side: int = 256) -> bytes:
    """A real .npz of blank images: ~0.1% of its decompressed size on disk (a zip bomb)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def member(key: str, array_shape: tuple[int, ...], dtype: str, fill: bytes) -> None:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": dtype, "fortran_order": False, "shape": array_shape})
            with archive.open(f"{key}.npy", "w", force_zip64=True) as stream:
                stream.write(header.getvalue())
                total = int(np.prod(array_shape)) * np.dtype(dtype).itemsize
                chunk = fill * (1 << 20)
                for start in range(0, total, len(chunk)):
                    stream.write(chunk[: min(len(chunk), total - start)])
        member("x_train", (images, side, side), "|u1", b"\0")
        member("y_train", (images,), "<i8", b"\0")
        member("x_test", (12, side, side), "|u1", b"\0")
        member("y_test", (12,), "<i8", b"\0")
    return buffer.getvalue()


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width × height`` (what a forged data URL sends)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4)).save(buffer, format="PNG")
    png = bytearray(buffer.getvalue())
    ihdr = bytes(png[12:16]) + struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(png)


def houses_csv(n: int = 120, seed: int = 0) -> bytes:
    """Area, rooms, a city, a date, a free-text note and a price that follows them."""
    rng = np.random.default_rng(seed)
    lines = ["area,rooms,city,built,note,price"]
    for i in range(n):
        area, rooms = rng.uniform(40, 200), int(rng.integers(1, 6))
        city = ["Paris", "Lyon", "Nice"][i % 3]
        price = area * 3000 + rooms * 10_000 + (50_000 if city == "Paris" else 0)
        lines.append(f"{area:.1f},{rooms},{city},2020-{i % 12 + 1:02d}-01,note {i},{price:.0f}")
    return ("\n".join(lines) + "\n").encode()


def churn_csv(n: int = 100) -> bytes:
    """Months as a customer, a plan, and whether they left (short stays churn)."""
    rng = np.random.default_rng(1)
    lines = ["months,plan,churned"]
    for i in range(n):
        months = int(rng.integers(1, 60))
        lines.append(f"{months},{'basic' if i % 2 else 'pro'},{'yes' if months < 20 else 'no'}")
    return ("\n".join(lines) + "\n").encode()


@functools.lru_cache(maxsize=1)
def zeros_png(side: int = 5000) -> bytes:
    """A black PNG of side×side: ~25 kB on disk, 25 megapixels once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def big_pngs_zip(classes: int, per_class: int) -> bytes:
    """Distinct 5000×5000 black PNGs (bytes after IEND differ, so none is a duplicate)."""
    blob = zeros_png()
    return make_zip({f"c{c:03d}/{i}.png": blob + f"{c}-{i}".encode()
                     for c in range(classes) for i in range(per_class)})
