"""The "Your drawings" dataset: digits drawn on /draw, labelled by the person who drew them.

Each saved drawing is the 28×28 image the model saw (uint8, MNIST-style) plus its true
label, so /evaluate can score any model on real people's handwriting and /data can show
it. The original canvas is kept too (a small PNG), so drawings can be re-processed if
preprocessing improves. Everything lives in ``<DASHCORE_HOME>/drawings``:

- ``drawings.npz``: ``images`` (N, 28, 28) uint8, ``labels`` (N,), ``ids`` (N,),
  ``created`` (N,) Unix seconds and ``owners`` (N,) who saved each ("" without accounts;
  files from before owners were recorded read as ""); rewritten atomically on every
  change, so a reader sees the old set or the new one, never half a file;
- ``canvas/<id>.png``: the drawing as it was on the canvas.

Writers take a lock (a thread lock and an ``flock`` on ``.lock``), so two sessions saving
at the same moment both keep their drawing.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dashcore.access.auth import User, authorize
from dashcore.access.quota import DRAWING_IMAGE_BYTES, check_quota
from dashcore.atomic import atomic_write_bytes
from dashcore.datasets.base import DRAWINGS, Dataset
from dashcore.errors import NotFoundError, UserError
from dashcore.inference.canvas import check_canvas_png
from dashcore.settings import Settings, get_settings

MAX_DRAWINGS = 10_000  # a labelled test set this big is plenty; keeps the file under ~8 MB
SIDE = 28  # saved image side: what the model sees
CLASS_NAMES = tuple(str(d) for d in range(10))
_FILE = "drawings.npz"
_write_lock = threading.Lock()


@dataclass(frozen=True)
class SavedDrawing:
    """One saved drawing: its id, label, the 28×28 image (uint8) and who saved it."""

    drawing_id: str
    label: int
    image: np.ndarray
    created: float
    owner: str | None = None  # the signed-in user who saved it; None without accounts


def drawings_file(settings: Settings | None = None) -> Path:
    """Where the labelled drawings are stored."""
    return (settings or get_settings()).drawings_dir / _FILE


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """A 28×28 image, float in [0, 1] or uint8, as uint8; anything else is refused."""
    x = np.asarray(image)
    if x.shape != (SIDE, SIDE):
        raise UserError(f"A saved drawing must be the 28×28 image the model sees; got shape "
                        f"{x.shape}. Preprocess the canvas first "
                        "(dashcore.inference.preprocess.to_mnist).")
    if x.dtype == np.uint8:
        return x.copy()
    if x.dtype.kind not in "biuf":
        raise UserError(f"A saved drawing must hold pixel numbers (uint8 0–255 or floats 0–1); "
                        f"got dtype {x.dtype}. Preprocess the canvas first.")
    if not np.isfinite(x).all():
        raise UserError("The drawing contains NaN or infinite values: draw it again.")
    return np.round(np.clip(x.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)


def _read(path: Path) -> dict[str, np.ndarray]:
    """The stored arrays (empty ones when nothing was saved yet)."""
    empty = {"images": np.zeros((0, SIDE, SIDE), np.uint8), "labels": np.zeros(0, np.int64),
             "ids": np.zeros(0, dtype="<U32"), "created": np.zeros(0, np.float64),
             "owners": np.zeros(0, dtype="<U80")}
    if not path.is_file():
        return empty
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key]) for key in empty if key != "owners"}
            arrays["owners"] = (np.asarray(npz["owners"]) if "owners" in npz.files
                                else np.full(len(arrays["labels"]), "", dtype="<U80"))
            return arrays
    except Exception as exc:  # noqa: BLE001 - a damaged file must not break /draw
        raise UserError(f"The saved drawings file {path} is damaged ({type(exc).__name__}); "
                        "move it away to start a new set.") from None


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """Exclusive access for a read-modify-write, across threads and processes."""
    folder = settings.drawings_dir
    folder.mkdir(parents=True, exist_ok=True)
    with _write_lock, open(folder / ".lock", "a+b") as handle:
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except ImportError:  # not POSIX: the thread lock still covers one server
            pass
        yield


def save_drawing(image: np.ndarray, label: int, canvas_png: bytes | None = None,
                 settings: Settings | None = None, user: User | None = None) -> SavedDrawing:
    """Add one labelled drawing to "Your drawings"; returns it.

    Args:
        image: the preprocessed 28×28 image (float [0, 1] or uint8).
        label: the true digit, 0–9, as the person who drew it says.
        canvas_png: the original canvas as PNG bytes, kept for re-processing (optional).
        settings: data folder. Defaults to :func:`get_settings`.
        user: the signed-in person (pages pass it): must be allowed to save drawings, and
            is recorded as the drawing's owner. ``None`` is a trusted caller.

    Raises:
        PermissionDenied: ``user`` may not save (a visitor, or a read-only demo).
        UserError: for a label outside 0–9, a wrongly shaped image, or a full set.
    """
    authorize(user, "save_drawing")
    settings = settings or get_settings()
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= label <= 9:
        raise UserError(f"Label {label!r} is not a digit: pick the digit you drew, 0 to 9.")
    pixels = _to_uint8(image)
    if canvas_png is not None:
        check_canvas_png(canvas_png, settings.limits)  # size and header, before any write
    check_quota(user, settings, DRAWING_IMAGE_BYTES + len(canvas_png or b""), "this drawing")
    drawing = SavedDrawing(f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}",
                           int(label), pixels, time.time(),
                           user.name if user is not None else None)
    path = drawings_file(settings)
    with _locked(settings):
        arrays = _read(path)
        if len(arrays["labels"]) >= MAX_DRAWINGS:
            raise UserError(f"'{DRAWINGS}' already holds {MAX_DRAWINGS:,} drawings, the limit: "
                            "delete some before saving more.")
        if canvas_png:
            atomic_write_bytes(settings.drawings_dir / "canvas" / f"{drawing.drawing_id}.png",
                               canvas_png)
        _write(path, {
            "images": np.concatenate([arrays["images"], pixels[np.newaxis]]),
            "labels": np.append(arrays["labels"].astype(np.int64), drawing.label),
            "ids": np.append(arrays["ids"].astype("<U32"), drawing.drawing_id),
            "created": np.append(arrays["created"].astype(np.float64), drawing.created),
            "owners": np.append(arrays["owners"].astype("<U80"), (drawing.owner or "")[:80]),
        })
    return drawing


def delete_drawing(drawing_id: str, settings: Settings | None = None,
                   user: User | None = None) -> None:
    """Remove one saved drawing (e.g. one saved with the wrong label).

    Raises:
        NotFoundError: no drawing has that id.
        PermissionDenied: ``user`` is neither the drawing's owner nor an admin.
    """
    settings = settings or get_settings()
    path = drawings_file(settings)
    with _locked(settings):
        arrays = _read(path)
        keep = arrays["ids"] != drawing_id
        if keep.all():
            raise NotFoundError(f"No saved drawing has id {drawing_id!r}; it may already be "
                                "deleted.")
        owner = str(arrays["owners"][~keep][0]) or None
        authorize(user, "manage", owner=owner, what="this drawing")
        _write(path, {key: value[keep] for key, value in arrays.items()})
        (settings.drawings_dir / "canvas" / f"{Path(drawing_id).name}.png").unlink(
            missing_ok=True)


def list_drawings(settings: Settings | None = None) -> list[SavedDrawing]:
    """Every saved drawing, oldest first."""
    arrays = _read(drawings_file(settings))
    return [SavedDrawing(str(i), int(y), x, float(t), str(o) or None) for x, y, i, t, o in
            zip(arrays["images"], arrays["labels"], arrays["ids"], arrays["created"],
                arrays["owners"], strict=True)]


def count_drawings(settings: Settings | None = None) -> int:
    """How many labelled drawings are saved (0 when none)."""
    return int(len(_read(drawings_file(settings))["labels"]))


def load_drawings(settings: Settings | None = None) -> Dataset:
    """"Your drawings" as a :class:`~dashcore.datasets.base.Dataset` for /evaluate and /data.

    The drawings are the *test* split (they exist to score models on real handwriting);
    the training split is empty.

    Raises:
        NotFoundError: when nothing has been saved yet, saying how to add drawings.
    """
    arrays = _read(drawings_file(settings))
    if len(arrays["labels"]) == 0:
        raise NotFoundError(f"'{DRAWINGS}' is empty: draw a digit on /draw and press "
                            "'Save as example' to start it.")
    images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    images.setflags(write=False)
    return Dataset(
        name=DRAWINGS,
        x_train=np.zeros((0, SIDE, SIDE), np.uint8), y_train=np.zeros(0, np.int64),
        x_test=images, y_test=labels, class_names=CLASS_NAMES,
        source=f"{len(labels)} digits drawn on /draw and labelled by the people who drew them "
               "(preprocessed like MNIST; test split only).",
        extra={"ids": arrays["ids"].tolist(), "created": arrays["created"].tolist(),
               "owners": [str(o) or None for o in arrays["owners"]]},
    )
