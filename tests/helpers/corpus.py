"""The bad-input corpus's scaffold: a case, the entry points as pages call them, and the check.

The cases live in ``tests/unit/test_bad_input_*.py``, one file per form (datasets, images,
models, drawings, names, access, limits).

Each case calls the exact dashcore entry point its page calls, with one bad input, and
checks what a person would see: a message that names what was found and what is
expected (never a traceback), and a data folder left exactly as it was (no new file, no
temp file, no queued run). Builders come from the modules' own tests (``npz`` from
test_data, model files from test_model_upload); only the refusals that need no checker
process are here, so the whole corpus runs in seconds.
"""

from __future__ import annotations

import functools
import io
import stat
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashcore.access.auth import AccessConfig, User, hash_password
from dashcore.access.throttle import FREE_FAILURES, THROTTLE, SignInThrottle, sign_in_keys
from dashcore.datasets import drawings, image_folders, uploads, zip_import
from dashcore.errors import UserError
from dashcore.inference.preprocess import EMPTY_MESSAGE, preprocess
from dashcore.jobs import queue
from dashcore.models import export_formats, registry, specs, upload, validation
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import RunRecord
from dashcore.store.sign_ins import StoreBook, shared_throttle
from dashcore.store.sql import SQLAlchemyRunStore
from dashcore.training.config import TrainConfig
from tests.helpers.datasets import make_zip, npz, picture, shapes_zip
from tests.helpers.jobs import TINY, FakeLauncher

# Files a refused request may touch without writing anything: SQLite's WAL side files and
# the lock files that serialise writers.
INFRASTRUCTURE = ("-wal", "-shm", ".lock")

Attempt = Callable[[pytest.FixtureRequest], Any]


@dataclass(frozen=True)
class Case:
    """One bad input: where it is typed, what the page calls, and what the person reads.

    Attributes:
        form: the form or upload in the product, as a person would name it.
        attempt: calls the page's dashcore entry point with the bad input. It raises, or
            returns the message the page shows instead (the empty canvas).
        message: fragments the message must contain (what was found, what is expected).
        error: the exception the page catches and shows.
        env: settings for this case (smaller limits), as environment variables.
        setup: prepares what exists before the attempt (a run to rename, a dataset).
    """

    form: str
    attempt: Attempt
    message: tuple[str, ...]
    error: type[Exception] = UserError
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[], None] | None = None


# ---------------------------------------------------------------- entry points, as pages call them


def train(**settings: Any) -> Attempt:
    """/train: the form's values become a TrainConfig that ``queue.submit`` queues."""
    return lambda request: queue.submit(TrainConfig(**{"architecture": TINY, **settings}),
                                       launcher=FakeLauncher(), settings=get_settings())


def stack_problem(*layers: dict[str, Any]) -> Attempt:
    """/architecture: the builder shows the first problem of the edited stack."""
    return lambda request: validation.validate_spec(specs.ModelSpec(layers=list(layers)),
                                                    max_params=get_settings().limits.max_params)


def spec_upload(content: str | bytes) -> Attempt:
    """/architecture: 'Load a .json' parses the upload."""
    return lambda request: specs.ModelSpec.from_json(content)


def dataset_upload(content: bytes | Callable[[], bytes], name: str = "mine") -> Attempt:
    """/data: 'Validate and add' checks and stores an .npz."""
    return lambda request: uploads.save_uploaded_dataset(
        name, content() if callable(content) else content, settings=get_settings())


def zip_upload(content: bytes | Callable[[], bytes], name: str = "mine",
               **options: Any) -> Attempt:
    """/data: 'Import images' reads a zip of class folders and stores it."""
    return lambda request: zip_import.import_zip(
        name, content() if callable(content) else content,
        image_folders.ImportOptions(**options), get_settings())


def zip_with(info: zipfile.ZipInfo, blob: bytes = b"x") -> bytes:
    """A valid zip of two classes plus one member described by ``info``."""
    buffer = io.BytesIO(shapes_zip(per_class=2, classes=("circle", "square")))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(info, blob)
    return buffer.getvalue()


def symlink_member() -> bytes:
    info = zipfile.ZipInfo("circle/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_with(info, b"/etc/passwd")


def encrypted_member() -> bytes:
    """zipfile cannot write encrypted members: set the flag in the central directory."""
    blob = bytearray(zip_with(zipfile.ZipInfo("circle/secret.png"), b"\x00" * 12))
    header = blob.rindex(b"circle/secret.png") - 46  # the central directory entry's start
    assert blob[header:header + 4] == b"PK\x01\x02"
    blob[header + 8] |= 0x1  # general-purpose flag bit 0: encrypted
    return bytes(blob)


def zip_bomb() -> bytes:  # 3 MB of zeros deflate to ~3 kB, against a 1 MB limit
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("circle/a.png", bytes(3_000_000))
        archive.writestr("square/b.png", b"x")
    return buffer.getvalue()


def one_class() -> bytes:
    return shapes_zip(per_class=4, classes=("circle",))


def duplicated_class() -> bytes:  # every square is a byte-for-byte copy of a circle
    circles = {f"circle/{i}.png": picture(seed=i) for i in range(3)}
    return make_zip({**circles, **{f"square/{i}.png": blob
                                  for i, blob in enumerate(circles.values())}})


def model_file(key: str, cut: float = 1.0) -> Callable[[pytest.FixtureRequest], bytes]:
    """Bytes of one of test_model_upload's saved model files (``cut``: keep that share)."""
    def read(request: pytest.FixtureRequest) -> bytes:
        blob = request.getfixturevalue("files")[key].read_bytes()
        return blob[: int(len(blob) * cut)]
    return read


def model_upload_of(content: bytes | Callable[[pytest.FixtureRequest], bytes],
                    filename: str) -> Attempt:
    """/models: 'Check and add' inspects the upload (refusals here need no checker)."""
    return lambda request: upload.import_model(
        content(request) if callable(content) else content, filename, settings=get_settings())


def save_drawing(image: np.ndarray, label: Any = 3, canvas_png: bytes | None = None) -> Attempt:
    """/draw: 'Save as example' with the digit the person says they drew."""
    return lambda request: drawings.save_drawing(image, label, canvas_png, settings=get_settings())


def canvas(image: np.ndarray) -> Attempt:
    """/draw: the canvas goes through preprocessing; nothing drawn → the page's message."""
    def attempt(request: pytest.FixtureRequest) -> str:
        picture, _stats = preprocess(image)
        return EMPTY_MESSAGE if picture is None else "a prediction"
    return attempt


def rename_run(name: str, run_id: str = "r-existing") -> Attempt:
    """/train: the run's name box."""
    return lambda request: queue.rename(run_id, name, settings=get_settings())


def an_existing_run() -> None:
    open_store(get_settings()).create_run(RunRecord(run_id="r-existing", name="first try"))


def a_finished_run() -> None:
    open_store(get_settings()).create_run(RunRecord(run_id="r-done", name="done",
                                                    status="completed"))


def an_existing_dataset() -> None:
    uploads.save_uploaded_dataset("digits", npz(), settings=get_settings())


@functools.lru_cache(maxsize=1)
def access() -> AccessConfig:
    """A password-mode workbench with one user, ann (hashing is slow: once per session)."""
    return AccessConfig.from_mapping({"mode": "password",
                                      "passwords": {"ann": hash_password("correct horse")}})


def sign_in(name: str, password: str) -> Attempt:
    """The sign-in form."""
    return lambda request: access().sign_in(name, password)


# ---------------------------------------------------------------- the corpus

BLANK_RGBA = np.zeros((280, 280, 4), np.uint8)
DEEP_JSON = "[" * 50_000 + "]" * 50_000  # 100 kB: under the page's 1 MB upload cap
FLAT = {"type": "Flatten"}
LOOKUP = {"class_name": "Sequential", "config": {"layers": [
    {"class_name": "StringLookup", "module": "keras.layers",
     "config": {"name": "words", "vocabulary": "/etc/passwd"}}]}}
OUT = {"type": "Dense", "units": 10, "activation": "softmax"}


def pickled_images() -> bytes:
    ragged = np.empty(30, dtype=object)
    ragged[:] = [np.zeros(3)] * 30
    return npz(x_train=ragged)


def valid_npz_truncated() -> bytes:
    blob = npz()
    return blob[: len(blob) // 2]


def big_npz() -> bytes:  # 1.1 MB of valid images, against a 1 MB limit
    return npz(x_train=np.random.default_rng(1).integers(0, 256, (1400, 28, 28), np.uint8),
               y_train=np.arange(1400) % 3)




# Budgets and sign-in throttling: a shared server's limits per person and per job.
WIDE_CONVS = specs.ModelSpec(name="Two wide convs", layers=[
    {"type": "Conv2D", "filters": 1024}, {"type": "Conv2D", "filters": 1024}, FLAT,
    OUT]).to_dict()
ANN = User("ann")


def anns_big_run() -> None:
    """A finished run of ann's whose folder already fills a 1 MB quota."""
    open_store(get_settings()).create_run(RunRecord(run_id="r-ann", name="ann's",
                                                    status="completed", owner="ann"))
    folder = get_settings().runs_dir / "r-ann"
    folder.mkdir(parents=True)
    (folder / "best.weights.h5").write_bytes(bytes(1_100_000))


def anns_name_locked() -> None:
    """Someone has guessed ann's password many times in a row just now."""
    for _ in range(FREE_FAILURES + 1):
        THROTTLE.failed(sign_in_keys("ann"))


# ---------------------------------------------------------------- the checks


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file the data folder holds (relative name → bytes), lock and WAL files aside."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(INFRASTRUCTURE)}



def check_case(case: Case, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
               home: Path) -> None:
    """Run one case: the exact sentence is shown, and nothing is written."""
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if case.setup is not None:
        case.setup()
    before = files_under(home)
    runs_before = [(r.run_id, r.name) for r in open_store(get_settings()).list_runs()] \
        if get_settings().store_path.exists() else []

    try:
        shown = case.attempt(request)
    except case.error as exc:
        shown = str(exc)
    assert isinstance(shown, str), f"accepted: {shown!r}"

    for fragment in case.message:
        assert fragment in shown, f"{fragment!r} not in {shown!r}"
    assert "Traceback" not in shown and len(shown) < 1_000
    assert files_under(home) == before  # nothing new, nothing half-written
    if get_settings().store_path.exists():
        assert [(r.run_id, r.name) for r in open_store(get_settings()).list_runs()] == runs_before



# ---------------------------------------------------------------- shared-server budgets

VISITOR = User(name=None, read_only=True)
ZEROS = np.zeros((28, 28), np.uint8)


def anns_drawings(classes: int, per_class: int = 1) -> Callable[[], None]:
    """ann has saved drawings in ``classes`` classes of her own already."""
    def setup() -> None:
        for i in range(classes):
            for _ in range(per_class):
                drawings.save_drawing(ZEROS, f"junk{i}", settings=get_settings(), user=ANN)
    return setup


def anns_drawing_as(label: Any) -> Attempt:
    """/draw: ann presses 'Save as example'."""
    return lambda request: drawings.save_drawing(ZEROS, label, settings=get_settings(),
                                                 user=ANN)


ANNS_MODEL = "anns-wide-model"


def anns_wide_model() -> None:
    """A model of ann's of ~470 kB (its export is estimated at twice that)."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(150), keras.layers.Dense(10)])
    registry.save_model(model, {"name": "ann's wide", "owner": "ann", "input_shape": [28, 28, 1],
                                "num_classes": 10}, get_settings(), model_id=ANNS_MODEL)


def export_as(user: User, model_id: str, fmt: str = "savedmodel") -> Attempt:
    """/models: the Export panel's Prepare button."""
    def attempt(request: pytest.FixtureRequest) -> Any:
        settings = get_settings()
        return export_formats.prepare(registry.get_entry(model_id, settings), fmt, settings,
                                      user=user)
    return attempt


def second_import(request: pytest.FixtureRequest) -> Any:
    """/data: ann presses 'Import images' while her first import still runs."""
    with zip_import.IMPORTS.slot("ann", 1):
        return zip_import.import_zip("second", shapes_zip(), image_folders.ImportOptions(),
                                     get_settings(), user=ANN)


def anns_name_locked_in_the_store() -> None:
    """Many wrong guesses for ann, counted in the run store by a server since restarted."""
    for _ in range(FREE_FAILURES + 1):
        shared_throttle(get_settings()).failed(sign_in_keys("ann"))


def sign_in_after_a_restart(request: pytest.FixtureRequest) -> Any:
    """The sign-in form on a freshly started server (a new engine, nothing in memory)."""
    book = StoreBook(SQLAlchemyRunStore(get_settings().db_url))
    return access().sign_in("ann", "correct horse",
                            throttle=SignInThrottle(clock=time.time, book=book))
