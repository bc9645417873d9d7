"""The "Your drawings" dataset: drawings made on /draw, labelled by the person who drew them.

Each saved drawing is the 28×28 image the model saw (uint8, MNIST-style) plus its class:
a digit 0–9, or any class name the person defines (``circle``, ``A``, ``★``). While every
class is a digit the set is a *test* set, so /evaluate can score MNIST models on real
people's handwriting; once it holds classes of the person's own, it is split into train
and test (every fourth drawing of each class, oldest first, is held out) so a model can be
trained on it. The original canvas is kept too (a small PNG), so drawings can be
re-processed if preprocessing improves. Everything lives in ``<DASHCORE_HOME>/drawings``:

- ``drawings.npz``: ``images`` (N, 28, 28) uint8, ``labels`` (N,), ``names`` (N,) the class
  name of each (files from before names were recorded read the digit), ``ids`` (N,),
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
from dashcore.access.quota import check_quota
from dashcore.atomic import atomic_write_bytes
from dashcore.datasets.base import DRAWINGS, MAX_CLASS_NAME, MAX_CLASSES, Dataset, check_class_name
from dashcore.errors import NotFoundError, UserError
from dashcore.inference.canvas import check_canvas_png
from dashcore.settings import Settings, limit_setting

MAX_DRAWINGS = 10_000  # a labelled test set this big is plenty; keeps the file under ~8 MB
SIDE = 28  # saved image side: what the model sees
DRAWING_IMAGE_BYTES = SIDE * SIDE  # one saved uint8 image, as the disk quota counts it
CLASS_NAMES = tuple(str(d) for d in range(10))
TEST_EVERY = 4  # in a set with classes of your own, every 4th drawing of a class is a test one
_NAME_DTYPE = f"<U{MAX_CLASS_NAME}"
_FILE = "drawings.npz"
_write_lock = threading.Lock()


@dataclass(frozen=True)
class SavedDrawing:
    """One saved drawing: its id, label, the 28×28 image (uint8) and who saved it."""

    drawing_id: str
    label: int  # the digit, or -1 for a class of the person's own (see ``name``)
    image: np.ndarray
    created: float
    owner: str | None = None  # the signed-in user who saved it; None without accounts
    name: str = ""  # the class name as shown ("7", "circle")


def drawings_file(settings: Settings) -> Path:
    """Where the labelled drawings are stored."""
    return settings.drawings_dir / _FILE


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
             "owners": np.zeros(0, dtype="<U80"), "names": np.zeros(0, dtype=_NAME_DTYPE)}
    if not path.is_file():
        return empty
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key]) for key in empty
                      if key not in ("owners", "names")}
            arrays["owners"] = (np.asarray(npz["owners"]) if "owners" in npz.files
                                else np.full(len(arrays["labels"]), "", dtype="<U80"))
            arrays["names"] = (np.asarray(npz["names"]) if "names" in npz.files
                               else arrays["labels"].astype(np.int64).astype(_NAME_DTYPE))
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


def _class_of(label: object) -> tuple[int, str]:
    """(digit or -1, class name) for a label given as a digit 0–9 or as a class name."""
    if isinstance(label, str):
        name = check_class_name(label)
        return (int(name), name) if name in CLASS_NAMES else (-1, name)
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= label <= 9:
        raise UserError(f"Label {label!r} is not a digit: pick the digit you drew, 0 to 9, or "
                        "type a class name of your own.")
    return int(label), str(int(label))


def _check_share(arrays: dict[str, np.ndarray], owner: str, new_class: bool,
                 settings: Settings) -> None:
    """Refuse a drawing past ``owner``'s share of the shared set: the set's limits (drawings,
    classes) are everyone's, so no one person's drawings may fill them."""
    limits = settings.limits
    mine = arrays["owners"] == owner[:80]
    count = int(mine.sum())
    if count >= limits.drawings_per_user:
        raise UserError(f"You have saved {count:,} drawings to '{DRAWINGS}', your share of it "
                        f"({limits.drawings_per_user:,}): delete some of yours before saving "
                        f"more. {limit_setting('drawings_per_user')}")
    own_classes = set(arrays["names"][mine].tolist()) - set(CLASS_NAMES)
    if new_class and len(own_classes) >= limits.drawing_classes_per_user:
        raise UserError(f"You have drawings in {len(own_classes)} classes of your own, your "
                        f"share of '{DRAWINGS}' ({limits.drawing_classes_per_user}): draw one "
                        "of the classes it has, or delete your drawings of a class you no "
                        f"longer need. {limit_setting('drawing_classes_per_user')}")


def save_drawing(image: np.ndarray, label: int | str, canvas_png: bytes | None = None,
                 *, settings: Settings, user: User | None = None) -> SavedDrawing:
    """Add one labelled drawing to "Your drawings"; returns it.

    Args:
        image: the preprocessed 28×28 image (float [0, 1] or uint8).
        label: what the person says they drew: a digit 0–9, or a class name of their own
            (1–40 characters of plain one-line text, e.g. ``"circle"``).
        canvas_png: the original canvas as PNG bytes, kept for re-processing (optional).
        settings: data folder and limits (the entry point read them once).
        user: the signed-in person (pages pass it): must be allowed to save drawings, and
            is recorded as the drawing's owner. ``None`` is a trusted caller.

    Raises:
        PermissionDenied: ``user`` may not save (a visitor, or a read-only demo).
        UserError: for a number outside 0–9, a class name that is not plain text, a
            wrongly shaped image, a full set, or one class too many.
    """
    authorize(user, "save_drawing")
    digit, class_name = _class_of(label)
    pixels = _to_uint8(image)
    if canvas_png is not None:
        check_canvas_png(canvas_png, settings.limits)  # size and header, before any write
    check_quota(user, settings, DRAWING_IMAGE_BYTES + len(canvas_png or b""), "this drawing")
    drawing = SavedDrawing(f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}",
                           digit, pixels, time.time(),
                           user.name if user is not None else None, class_name)
    path = drawings_file(settings)
    with _locked(settings):
        arrays = _read(path)
        known = set(arrays["names"].tolist()) | set(CLASS_NAMES)
        if drawing.owner:
            _check_share(arrays, drawing.owner, class_name not in known, settings)
        if len(arrays["labels"]) >= MAX_DRAWINGS:
            raise UserError(f"'{DRAWINGS}' already holds {MAX_DRAWINGS:,} drawings, the limit: "
                            "delete some before saving more.")
        if class_name not in known and len(known) >= MAX_CLASSES:
            raise UserError(f"'{DRAWINGS}' already has {MAX_CLASSES} classes, the limit: "
                            "draw one of the classes it has.")
        if canvas_png:
            atomic_write_bytes(settings.drawings_dir / "canvas" / f"{drawing.drawing_id}.png",
                               canvas_png)
        _write(path, {
            "images": np.concatenate([arrays["images"], pixels[np.newaxis]]),
            "labels": np.append(arrays["labels"].astype(np.int64), drawing.label),
            "ids": np.append(arrays["ids"].astype("<U32"), drawing.drawing_id),
            "created": np.append(arrays["created"].astype(np.float64), drawing.created),
            "owners": np.append(arrays["owners"].astype("<U80"), (drawing.owner or "")[:80]),
            "names": np.append(arrays["names"].astype(_NAME_DTYPE), class_name),
        })
    return drawing


def delete_drawing(drawing_id: str, settings: Settings,
                   user: User | None = None) -> None:
    """Remove one saved drawing (e.g. one saved with the wrong label).

    Raises:
        NotFoundError: no drawing has that id.
        PermissionDenied: ``user`` is neither the drawing's owner nor an admin.
    """
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


def delete_drawings_of(owner: str, settings: Settings, user: User | None = None) -> int:
    """An admin clears everything ``owner`` saved to "Your drawings"; returns how many.

    Raises:
        PermissionDenied: ``user`` is not an admin.
    """
    authorize(user, "admin", what=f"the drawings of {owner!r}")
    path = drawings_file(settings)
    with _locked(settings):
        arrays = _read(path)
        theirs = arrays["owners"] == owner[:80]
        if not theirs.any():
            return 0
        _write(path, {key: value[~theirs] for key, value in arrays.items()})
        for drawing_id in arrays["ids"][theirs].tolist():
            (settings.drawings_dir / "canvas" / f"{Path(drawing_id).name}.png").unlink(
                missing_ok=True)
    return int(theirs.sum())


def owners_of_drawings(settings: Settings) -> dict[str, int]:
    """Who saved drawings, and how many each (for an admin clearing a person's)."""
    owners = [str(o) for o in _read(drawings_file(settings))["owners"].tolist() if str(o)]
    return {owner: owners.count(owner) for owner in sorted(set(owners))}


def list_drawings(settings: Settings) -> list[SavedDrawing]:
    """Every saved drawing, oldest first."""
    arrays = _read(drawings_file(settings))
    return [SavedDrawing(str(i), int(y), x, float(t), str(o) or None, str(n))
            for x, y, i, t, o, n in zip(arrays["images"], arrays["labels"], arrays["ids"],
                                        arrays["created"], arrays["owners"], arrays["names"],
                                        strict=True)]


def drawing_bytes(owner: str, settings: Settings) -> int:
    """What ``owner``'s drawings take: each 28×28 image and its canvas PNG (the disk quota
    asks). A damaged drawings file counts as nothing until it is fixed."""
    try:
        mine = [d for d in list_drawings(settings) if d.owner == owner]
    except UserError:
        return 0
    canvas = settings.drawings_dir / "canvas"
    total = 0
    for drawing in mine:
        try:
            total += DRAWING_IMAGE_BYTES + (canvas / f"{drawing.drawing_id}.png").stat().st_size
        except OSError:  # saved without its canvas
            total += DRAWING_IMAGE_BYTES
    return total


def class_names_in_use(settings: Settings) -> tuple[str, ...]:
    """The classes of "Your drawings" in the order a model trained on it sees them."""
    return _classes(_read(drawings_file(settings))["names"])


def class_counts(settings: Settings) -> dict[str, int]:
    """How many drawings each class has (classes in :func:`class_names_in_use` order)."""
    names = _read(drawings_file(settings))["names"].tolist()
    return {name: names.count(name) for name in _classes(np.asarray(names, dtype=_NAME_DTYPE))
            if name in names}


def _classes(names: np.ndarray) -> tuple[str, ...]:
    """Digits only: "0"–"9" (so class = digit, as MNIST models read); else the names sorted."""
    used = set(names.tolist())
    if used <= set(CLASS_NAMES):
        return CLASS_NAMES
    return tuple(sorted(used))


def count_drawings(settings: Settings) -> int:
    """How many labelled drawings are saved (0 when none)."""
    return int(len(_read(drawings_file(settings))["labels"]))


def load_drawings(settings: Settings) -> Dataset:
    """"Your drawings" as a :class:`~dashcore.datasets.base.Dataset` for /evaluate and /data.

    The drawings are the *test* split (they exist to score models on real handwriting);
    the training split is empty.

    Raises:
        NotFoundError: when nothing has been saved yet, saying how to add drawings.
    """
    arrays = _read(drawings_file(settings))
    if len(arrays["labels"]) == 0:
        raise NotFoundError(f"'{DRAWINGS}' is empty: draw on /draw and press "
                            "'Save as example' to start it.")
    names = _classes(arrays["names"])
    index = {name: i for i, name in enumerate(names)}
    images = arrays["images"]
    labels = np.array([index[n] for n in arrays["names"].tolist()], dtype=np.int64)
    images.setflags(write=False)
    extra = {"ids": arrays["ids"].tolist(), "created": arrays["created"].tolist(),
             "owners": [str(o) or None for o in arrays["owners"]]}
    if names == CLASS_NAMES:
        return Dataset(
            name=DRAWINGS,
            x_train=np.zeros((0, SIDE, SIDE), np.uint8), y_train=np.zeros(0, np.int64),
            x_test=images, y_test=labels, class_names=CLASS_NAMES,
            source=f"{len(labels)} digits drawn on /draw and labelled by the people who drew "
                   "them (preprocessed like MNIST; test split only).", extra=extra)
    test = _test_mask(labels)
    return Dataset(
        name=DRAWINGS, x_train=images[~test], y_train=labels[~test], x_test=images[test],
        y_test=labels[test], class_names=names,
        source=f"{len(labels)} drawings of {len(names)} classes made on /draw (preprocessed "
               f"like MNIST); every {TEST_EVERY}th drawing of each class is a test one.",
        extra=extra)


def _test_mask(labels: np.ndarray) -> np.ndarray:
    """Every TEST_EVERY-th drawing of each class (oldest first) is held out for testing.

    Saving more drawings never moves an earlier one between train and test.
    """
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        mask[members[TEST_EVERY - 1::TEST_EVERY]] = True
    return mask
