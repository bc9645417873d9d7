"""A ``.zip`` of class folders → a dataset, the way Keras's ``image_dataset_from_directory``
reads a folder: one sub-folder per class, the folder's name is the label.

Layouts accepted (a single enclosing folder, as made by zipping a folder, is looked through)::

    shapes.zip                       shapes.zip
    ├── circle/  a.png b.jpg …       ├── train/ circle/ … square/ …
    └── square/  c.png …             └── test/  circle/ … square/ …

Without ``train/`` and ``test/`` the images are split per class (stratified) with a seed.

Everything is bounded before bytes are spent: the zip's central directory gives the member
count and uncompressed sizes (checked against the limits before anything is extracted);
absolute names, ``..`` parts, symbolic links and encrypted members refuse the whole upload;
each image's header gives its pixel count before it is decoded (:mod:`dashcore.datasets.images`).
One bad image (corrupt, not an image, too small, a duplicate by content) becomes one line in
the report and the rest is still imported. This module reads and writes nothing:
:mod:`dashcore.datasets.zip_import` runs it in a limited worker and stores the result.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from dashcore.datasets.base import MAX_CLASSES, Dataset, check_class_name
from dashcore.datasets.images import (
    SUFFIXES,
    ImageProblem,
    PixelBudget,
    check_target,
    decode_image,
    header_pixels,
)
from dashcore.errors import UserError
from dashcore.settings import Limits, limit_setting

MIN_PER_CLASS = 2  # one image to train on and one to test with
MAX_PROBLEM_LINES = 200  # problem lines kept in a report; the rest are counted
_SPLITS = ("train", "test")
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}


@dataclass(frozen=True)
class ImportOptions:
    """How to turn the images into arrays.

    Attributes:
        side: target side in pixels; images are scaled (aspect kept) and padded to side×side.
        colour: ``"grey"`` or ``"rgb"``.
        test_fraction: share of each class held out for testing when the zip has no
            ``train/`` and ``test/`` folders (at least one image per class).
        seed: the split's random seed (the same seed gives the same split).
    """

    side: int = 32
    colour: str = "rgb"
    test_fraction: float = 0.2
    seed: int = 0

    def check(self) -> int:
        """Validate; returns the number of channels."""
        channels = check_target(self.side, self.colour)
        fraction = self.test_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
                0.05 <= fraction <= 0.5):
            raise UserError(f"Test share {fraction!r} is not allowed: choose from 0.05 to 0.5 "
                            "(e.g. 0.2 keeps a fifth of each class for testing).")
        return channels


@dataclass
class ImportReport:
    """What an import produced: the dataset, and one line per file or class left out."""

    dataset: Dataset
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0  # lines beyond MAX_PROBLEM_LINES, counted only
    presplit: bool = False  # True when the zip had train/ and test/ folders

    def counts(self) -> list[dict[str, object]]:
        """One row per class: its name and its train and test image counts."""
        ds = self.dataset
        train = np.bincount(ds.y_train, minlength=ds.num_classes)
        test = np.bincount(ds.y_test, minlength=ds.num_classes)
        return [{"class": name, "train": int(train[i]), "test": int(test[i])}
                for i, name in enumerate(ds.class_names)]


def _refuse_member(info: zipfile.ZipInfo) -> None:
    """Refuse the whole upload for a member that could write outside its folder."""
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"The zip holds an absolute path ({name!r}); only relative folder "
                        "names are allowed. Zip the class folders themselves.")
    if ".." in parts:
        raise UserError(f"The zip holds a path that climbs out of its folder ({name!r}); "
                        "refused for safety. Zip the class folders themselves.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UserError(f"The zip holds a symbolic link ({name!r}); refused for safety. "
                        "Zip the image files themselves (e.g. zip without -y).")
    if info.flag_bits & 0x1:
        raise UserError(f"The zip is password-protected ({name!r} is encrypted): zip the "
                        "folders again without a password.")


def _parts(name: str) -> tuple[str, ...]:
    """A member's path as its folder and file names (empty parts and '.' dropped)."""
    return tuple(p for p in name.replace("\\", "/").split("/") if p and p != ".")


def _ignored(parts: tuple[str, ...]) -> bool:
    """System clutter a zip tool adds (macOS resource forks, thumbnails, dot-files)."""
    return any(p.startswith(".") or p.lower() in _IGNORED_NAMES for p in parts)


def open_zip(data: bytes, limits: Limits, side: int, channels: int
              ) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open the zip and check its central directory against the limits; the files to read."""
    if len(data) > limits.upload_mb * 1_000_000:
        raise UserError(f"The file is {len(data) / 1e6:.1f} MB; uploads are limited to "
                        f"{limits.upload_mb} MB. Upload fewer images. "
                        f"{limit_setting('upload_mb')}")
    if not data:
        raise UserError("The file is empty: upload a .zip of class folders.")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:4] == b"PK\x03\x04":
            raise UserError(f"The file starts like a .zip but is incomplete ({len(data):,} "
                            "bytes, its end is missing): upload the complete file.")
        raise UserError("This is not a .zip file: put one folder per class (e.g. circle/, "
                        "square/) in a zip archive and upload that.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise UserError(f"The .zip could not be read ({type(exc).__name__}): it may be "
                        "damaged. Zip the folders again.") from None
    if len(infos) > 2 * limits.dataset_images + 1_000:
        raise UserError(f"The zip holds {len(infos):,} entries; at most "
                        f"{limits.dataset_images:,} images are accepted. "
                        f"{limit_setting('dataset_images')}")
    for info in infos:
        _refuse_member(info)
    files = [i for i in infos if not i.is_dir() and not _ignored(_parts(i.filename))]
    if not files:
        raise UserError("The zip holds no files: put one folder of images per class in it.")
    if len(files) > limits.dataset_images:
        raise UserError(f"The zip holds {len(files):,} files; at most "
                        f"{limits.dataset_images:,} images are accepted. Upload a subset. "
                        f"{limit_setting('dataset_images')}")
    unpacked = sum(i.file_size for i in files)
    budget = limits.unpacked_mb * 1_000_000
    if unpacked > budget:
        raise UserError(f"The zip would unpack to {unpacked / 1e6:,.0f} MB; the limit is "
                        f"{limits.unpacked_mb:,} MB (a zip bomb, or too many large photos). "
                        f"Upload fewer or smaller images. {limit_setting('unpacked_mb')}")
    decoded = len(files) * side * side * channels
    if decoded > budget:
        raise UserError(f"{len(files):,} images of {side}×{side}×{channels} would take "
                        f"{decoded / 1e6:,.0f} MB; the limit is {limits.unpacked_mb:,} MB. "
                        f"Choose a smaller size, grey, or fewer images. "
                        f"{limit_setting('unpacked_mb')}")
    return archive, sorted(files, key=lambda i: i.filename)


def _layout(files: list[zipfile.ZipInfo]) -> tuple[list[tuple[str | None, tuple[str, ...],
                                                              zipfile.ZipInfo]], bool]:
    """Each file as (split or None, path parts from the class folder on, info); pre-split?"""
    paths = [_parts(i.filename) for i in files]
    # Look through one enclosing folder ("shapes/circle/a.png" from zipping "shapes").
    tops = {p[0] for p in paths if len(p) > 1}
    if (len(tops) == 1 and all(len(p) >= 3 for p in paths)
            and next(iter(tops)).lower() not in _SPLITS):
        paths = [p[1:] for p in paths]
    presplit = all(len(p) >= 3 and p[0].lower() in _SPLITS for p in paths)
    if presplit:
        splits = {p[0].lower() for p in paths}
        if "train" not in splits:
            raise UserError("The zip has a test/ folder but no train/ folder: add train/ with "
                            "the same class folders, or zip the class folders alone.")
        return [(p[0].lower(), p[1:], i) for p, i in zip(paths, files, strict=True)], True
    return [(None, p, i) for p, i in zip(paths, files, strict=True)], False


HEADER_BYTES = 64 * 1024  # bytes read of each image for its header (PNG's is in the first 33)


@dataclass(frozen=True)
class _Candidate:
    """An image file in a class folder, not read yet."""

    split: str  # "train", "test", or "all" when the zip has no split folders
    label: str
    where: str  # its path as the report names it
    info: zipfile.ZipInfo


def plan_import(files: list[zipfile.ZipInfo], problems: list[str]
                ) -> tuple[list[_Candidate], bool]:
    """The image files to read, from names alone (nothing decompressed); pre-split?

    Files outside a class folder, in a folder with a bad name, or without an image suffix
    become problem lines. Refuses a zip with more classes than allowed before any byte of
    an image is read: the images of a zip that is refused anyway must not cost a decode.
    """
    entries, presplit = _layout(files)
    bad_classes: set[str] = set()
    candidates: list[_Candidate] = []
    for split, parts, info in entries:
        where = "/".join(parts) if split is None else f"{split}/{'/'.join(parts)}"
        if len(parts) < 2:
            problems.append(f"{where}: not inside a class folder, skipped (put it in the "
                            "folder of its class)")
            continue
        try:
            label = check_class_name(parts[0])
        except UserError as exc:
            if parts[0] not in bad_classes:
                bad_classes.add(parts[0])
                problems.append(f"{parts[0]}/: folder skipped: {exc}")
            continue
        if not parts[-1].lower().endswith(SUFFIXES):
            problems.append(f"{where}: not an image (PNG, JPEG, GIF, BMP or WebP), skipped")
            continue
        candidates.append(_Candidate(split or "all", label, where, info))
    per_class: dict[str, int] = {}
    for c in candidates:
        if c.split != "test":
            per_class[c.label] = per_class.get(c.label, 0) + 1
    least = 1 if presplit else MIN_PER_CLASS
    classes = sum(1 for n in per_class.values() if n >= least)
    if classes > MAX_CLASSES:
        raise UserError(f"The zip has {classes} class folders; at most {MAX_CLASSES} "
                        "classes are supported.")
    return candidates, presplit


def check_header_pixels(archive: zipfile.ZipFile, candidates: list[_Candidate],
                        budget: PixelBudget, max_pixels: int) -> None:
    """Sum the images' header pixel counts (each file's first bytes only) against ``budget``.

    Images over the per-image limit are left out of the sum (they are skipped, never
    decoded); headers these bytes do not show are charged when the image is decoded.
    """
    total = 0
    for c in candidates:
        try:
            with archive.open(c.info) as member:
                head = member.read(HEADER_BYTES)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError):
            continue  # reported as damaged by the decode pass
        pixels = header_pixels(head)
        if pixels is not None and pixels <= max_pixels:
            total += pixels
    if total > budget.limit:
        raise budget.refusal(total)


def read_class_folders(data: bytes, name: str, options: ImportOptions, limits: Limits
                       ) -> ImportReport:
    """Read a zip of class folders into a dataset named ``name``; writes nothing.

    In order of cost: the central directory (member count, sizes), the names (class
    count), the images' headers (their pixels summed against ``DASHCORE_IMPORT_MEGAPIXELS``),
    and only then decoding.

    Raises:
        UserError: the zip cannot be used at all (not a zip, over a limit, unsafe paths,
            fewer than two usable classes); single bad files are reported, not raised.
    """
    channels = options.check()
    archive, files = open_zip(data, limits, options.side, channels)
    problems: list[str] = []
    candidates, presplit = plan_import(files, problems)
    budget = PixelBudget(limits.import_megapixels, limit_setting("import_megapixels"))
    check_header_pixels(archive, candidates, budget, limits.image_pixels)
    seen: dict[bytes, str] = {}
    images: dict[tuple[str, str], list[np.ndarray]] = {}  # (split, class) → images
    for c in candidates:
        try:
            blob = archive.read(c.info)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            problems.append(f"{c.where}: damaged inside the zip ({type(exc).__name__}), "
                            "skipped")
            continue
        digest = hashlib.blake2b(blob, digest_size=16).digest()
        if digest in seen:
            problems.append(f"{c.where}: the same file as {seen[digest]}, skipped as a "
                            "duplicate")
            continue
        seen[digest] = c.where
        try:
            pixels = decode_image(blob, options.side, channels, limits.image_pixels, budget)
        except ImageProblem as exc:
            problems.append(f"{c.where}: {exc}, skipped")
            continue
        images.setdefault((c.split, c.label), []).append(pixels)
    dataset = assemble(images, presplit, options, name, problems)
    report = ImportReport(dataset=dataset, presplit=presplit)
    report.problems = problems[:MAX_PROBLEM_LINES]
    report.more_problems = max(0, len(problems) - MAX_PROBLEM_LINES)
    return report


def assemble(images: dict[tuple[str, str], list[np.ndarray]], presplit: bool,
              options: ImportOptions, name: str, problems: list[str]) -> Dataset:
    """Drop classes that cannot be trained and tested, split, and stack the arrays.

    ``images`` maps ``(split, class)`` to decoded images, split ``"train"``/``"test"`` when
    ``presplit`` else ``"all"`` (then each class is split with ``options``' share and seed).
    A line is added to ``problems`` for every class dropped.
    """
    classes = sorted({label for _split, label in images})
    usable = []
    for label in classes:
        if presplit:
            n_train = len(images.get(("train", label), []))
            n_test = len(images.get(("test", label), []))
            if n_train == 0:
                problems.append(f"{label}/: only in test/ ({n_test} images) with none in "
                                "train/: class skipped")
                continue
            if n_test == 0:
                problems.append(f"{label}/: no test images: it is trained on but not tested")
        elif len(images[("all", label)]) < MIN_PER_CLASS:
            problems.append(f"{label}/: only {len(images[('all', label)])} usable image; a "
                            f"class needs at least {MIN_PER_CLASS} (one to train, one to "
                            "test): class skipped")
            continue
        usable.append(label)
    if len(usable) < 2:
        found = f"{len(usable)} usable class" + ("" if len(usable) == 1 else "es")
        hint = f" First problem: {problems[0]}" if problems else ""
        raise UserError(f"Only {found} found: a classifier needs at least two class folders "
                        f"with at least {MIN_PER_CLASS} images each.{hint}")
    if len(usable) > MAX_CLASSES:
        raise UserError(f"The zip has {len(usable)} class folders; at most {MAX_CLASSES} "
                        "classes are supported.")
    rng = np.random.default_rng(options.seed)
    parts: dict[str, list[tuple[list[np.ndarray], int]]] = {"train": [], "test": []}
    for index, label in enumerate(usable):
        if presplit:
            parts["train"].append((images[("train", label)], index))
            parts["test"].append((images.get(("test", label), []), index))
            continue
        members = images[("all", label)]
        order = rng.permutation(len(members))
        n_test = min(len(members) - 1, max(1, round(len(members) * options.test_fraction)))
        parts["test"].append(([members[i] for i in sorted(order[:n_test])], index))
        parts["train"].append(([members[i] for i in sorted(order[n_test:])], index))
    shape = (options.side, options.side) + ((3,) if options.colour == "rgb" else ())
    arrays = {split: _stack(groups, shape) for split, groups in parts.items()}
    first = arrays["train"][0]
    kind = "colour" if first.ndim == 4 else "grey"
    return Dataset(
        name=name, x_train=first, y_train=arrays["train"][1], x_test=arrays["test"][0],
        y_test=arrays["test"][1], class_names=tuple(usable),
        source=f"Imported from a zip of class folders ({options.side}×{options.side} {kind}).")


def _stack(groups: list[tuple[list[np.ndarray], int]], shape: tuple[int, ...]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Images of each class into one uint8 array of ``(N, *shape)``, with their labels."""
    total = sum(len(images) for images, _label in groups)
    x = np.empty((total, *shape), dtype=np.uint8)
    y = np.empty(total, dtype=np.int64)
    at = 0
    for images, label in groups:
        for image in images:
            x[at] = image
            at += 1
        y[at - len(images):at] = label
    return x, y
