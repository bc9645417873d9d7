"""A bad-input corpus across every form and upload in the product.

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
import json
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashcore.access.auth import AccessConfig, User, hash_password
from dashcore.access.throttle import FREE_FAILURES, THROTTLE, sign_in_keys
from dashcore.datasets import catalog, drawings, image_folders, uploads, zip_import
from dashcore.errors import UserError
from dashcore.evaluation.splits import check_fit
from dashcore.inference.canvas import decode_canvas_png
from dashcore.inference.preprocess import EMPTY_MESSAGE, preprocess
from dashcore.jobs import queue
from dashcore.models import registry, specs, upload, validation
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers.datasets import arrays, bomb_npz, forged_png, make_zip, npz, picture, shapes_zip
from tests.helpers.jobs import TINY, FakeLauncher

# Files a refused request may touch without writing anything: SQLite's WAL side files and
# the lock files that serialise writers.
_INFRASTRUCTURE = ("-wal", "-shm", ".lock")

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
                                       launcher=FakeLauncher())


def stack_problem(*layers: dict[str, Any]) -> Attempt:
    """/architecture: the builder shows the first problem of the edited stack."""
    return lambda request: validation.validate_spec(specs.ModelSpec(layers=list(layers)))


def spec_upload(content: str | bytes) -> Attempt:
    """/architecture: 'Load a .json' parses the upload."""
    return lambda request: specs.ModelSpec.from_json(content)


def dataset_upload(content: bytes | Callable[[], bytes], name: str = "mine") -> Attempt:
    """/data: 'Validate and add' checks and stores an .npz."""
    return lambda request: uploads.save_uploaded_dataset(
        name, content() if callable(content) else content)


def zip_upload(content: bytes | Callable[[], bytes], name: str = "mine",
               **options: Any) -> Attempt:
    """/data: 'Import images' reads a zip of class folders and stores it."""
    return lambda request: zip_import.import_zip(
        name, content() if callable(content) else content,
        image_folders.ImportOptions(**options), get_settings())


def _zip_with(info: zipfile.ZipInfo, blob: bytes = b"x") -> bytes:
    """A valid zip of two classes plus one member described by ``info``."""
    buffer = io.BytesIO(shapes_zip(per_class=2, classes=("circle", "square")))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(info, blob)
    return buffer.getvalue()


def _symlink_member() -> bytes:
    info = zipfile.ZipInfo("circle/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip_with(info, b"/etc/passwd")


def _encrypted_member() -> bytes:
    """zipfile cannot write encrypted members: set the flag in the central directory."""
    blob = bytearray(_zip_with(zipfile.ZipInfo("circle/secret.png"), b"\x00" * 12))
    header = blob.rindex(b"circle/secret.png") - 46  # the central directory entry's start
    assert blob[header:header + 4] == b"PK\x01\x02"
    blob[header + 8] |= 0x1  # general-purpose flag bit 0: encrypted
    return bytes(blob)


def _zip_bomb() -> bytes:  # 3 MB of zeros deflate to ~3 kB, against a 1 MB limit
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("circle/a.png", bytes(3_000_000))
        archive.writestr("square/b.png", b"x")
    return buffer.getvalue()


def _one_class() -> bytes:
    return shapes_zip(per_class=4, classes=("circle",))


def _duplicated_class() -> bytes:  # every square is a byte-for-byte copy of a circle
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
        content(request) if callable(content) else content, filename)


def save_drawing(image: np.ndarray, label: Any = 3, canvas_png: bytes | None = None) -> Attempt:
    """/draw: 'Save as example' with the digit the person says they drew."""
    return lambda request: drawings.save_drawing(image, label, canvas_png)


def canvas(image: np.ndarray) -> Attempt:
    """/draw: the canvas goes through preprocessing; nothing drawn → the page's message."""
    def attempt(request: pytest.FixtureRequest) -> str:
        picture, _stats = preprocess(image)
        return EMPTY_MESSAGE if picture is None else "a prediction"
    return attempt


def rename_run(name: str, run_id: str = "r-existing") -> Attempt:
    """/train: the run's name box."""
    return lambda request: queue.rename(run_id, name)


def an_existing_run() -> None:
    open_store().create_run(RunRecord(run_id="r-existing", name="first try"))


def a_finished_run() -> None:
    open_store().create_run(RunRecord(run_id="r-done", name="done", status="completed"))


def an_existing_dataset() -> None:
    uploads.save_uploaded_dataset("digits", npz())


@functools.lru_cache(maxsize=1)
def _access() -> AccessConfig:
    """A password-mode workbench with one user, ann (hashing is slow: once per session)."""
    return AccessConfig.from_mapping({"mode": "password",
                                      "passwords": {"ann": hash_password("correct horse")}})


def sign_in(name: str, password: str) -> Attempt:
    """The sign-in form."""
    return lambda request: _access().sign_in(name, password)


# ---------------------------------------------------------------- the corpus

_BLANK_RGBA = np.zeros((280, 280, 4), np.uint8)
_DEEP_JSON = "[" * 50_000 + "]" * 50_000  # 100 kB: under the page's 1 MB upload cap
_FLAT = {"type": "Flatten"}
_LOOKUP = {"class_name": "Sequential", "config": {"layers": [
    {"class_name": "StringLookup", "module": "keras.layers",
     "config": {"name": "words", "vocabulary": "/etc/passwd"}}]}}
_OUT = {"type": "Dense", "units": 10, "activation": "softmax"}


def _pickled_images() -> bytes:
    ragged = np.empty(30, dtype=object)
    ragged[:] = [np.zeros(3)] * 30
    return npz(x_train=ragged)


def _valid_npz_truncated() -> bytes:
    blob = npz()
    return blob[: len(blob) // 2]


def _big_npz() -> bytes:  # 1.1 MB of valid images, against a 1 MB limit
    return npz(x_train=np.random.default_rng(1).integers(0, 256, (1400, 28, 28), np.uint8),
               y_train=np.arange(1400) % 3)


CASES: dict[str, Case] = {
    # /train form
    "train-batch-0": Case("train", train(batch_size=0),
                          ("Batch size 0 is not allowed", "from 1 to 4096")),
    "train-split-1.0": Case("train", train(validation_split=1.0),
                            ("Validation split 1 is not allowed", "from 0 to 0.5")),
    "train-10000-epochs": Case("train", train(epochs=10_000),
                               ("10,000 epochs is not allowed", "from 1 to 200")),
    "train-lr-50": Case("train", train(learning_rate=50.0),
                        ("Learning rate 50 is not allowed", "above 0 and at most 1")),
    "train-lr-nan": Case("train", train(learning_rate=float("nan")),
                         ("Learning rate nan is not allowed",)),
    "train-batch-as-text": Case("train", train(batch_size="128"),
                                ("Batch size '128' is not allowed", "whole number")),
    "train-one-class": Case("train", train(classes=[3]),
                            ("Pick at least two different classes", "3 and 8")),
    "train-class-not-in-data": Case("train", train(classes=[3, 12]),
                                    ("Class(es) [12] do not exist in MNIST", "0 to 9")),
    "train-unknown-dataset": Case("train", train(dataset="Nope"),
                                  ("Unknown dataset 'Nope'", "MNIST")),
    "train-unknown-optimizer": Case("train", train(optimizer="adamw"),
                                    ("Optimizer 'adamw' is not offered", "adam, sgd, rmsprop")),
    "train-too-few-images": Case("train", train(max_train_images=5),
                                 ("5 training images are too few", "at least 10")),
    "train-patience-without-validation": Case(
        "train", train(patience=3, validation_split=0.0),
        ("Early stopping watches the validation loss", "validation split above 0")),
    "train-no-architecture": Case("train", train(architecture={"layers": []}),
                                  ("Pick an architecture",)),
    "train-model-over-limit": Case("train", train(),
                                   ("would have 12,730 parameters, more than the 1,000",),
                                   env={"DASHCORE_MAX_PARAMS": "1000"}),
    # /architecture builder and its JSON upload
    "arch-conv-after-flatten": Case("architecture", stack_problem(
        _FLAT, {"type": "Conv2D", "filters": 8}, _OUT), ("Layer 2 (Conv2D) needs an image",)),
    "arch-absurd-units": Case("architecture", stack_problem(
        _FLAT, {"type": "Dense", "units": 64_000}, _OUT),
        ("Layer 2 (Dense) has units = 64,000", "from 1 to 10,000")),
    "arch-zero-filters": Case("architecture", stack_problem(
        {"type": "Conv2D", "filters": 0}, _FLAT, _OUT),
        ("Layer 1 (Conv2D) has filters = 0", "e.g. 32")),
    "arch-dropout-1.5": Case("architecture", stack_problem(
        _FLAT, {"type": "Dropout", "rate": 1.5}, _OUT), ("Layer 2 (Dropout)", "below 1")),
    "arch-lambda-layer": Case("architecture", stack_problem(
        {"type": "Lambda", "function": "exec"}, _FLAT, _OUT),
        ("type 'Lambda'", "Dense, Conv2D")),
    "arch-empty-stack": Case("architecture", stack_problem(), ("no layers", "Pick a preset")),
    "arch-reshape-target-as-words": Case("architecture", lambda r: specs.parse_shape("28 by 28"),
                                         ("'28 by 28' is not a shape", "e.g. 28, 28")),
    "arch-json-not-json": Case("architecture", spec_upload("{layers: Dense}"),
                               ("This is not valid JSON", "line 1")),
    "arch-json-a-list": Case("architecture", spec_upload("[1, 2]"), ("expected an object",)),
    "arch-json-layers-not-a-list": Case("architecture", spec_upload('{"layers": "Dense"}'),
                                        ("'layers' is a str, not a list",)),
    "arch-json-nested-50000-deep": Case("architecture", spec_upload(_DEEP_JSON),
                                        ("nested too deeply",)),
    # /data: dataset .npz upload
    "npz-not-a-zip": Case("data", dataset_upload(b"x_train,y_train\n1,2\n"),
                          ("This is not a .npz file", "numpy.savez")),
    "npz-empty": Case("data", dataset_upload(b""), ("The file is empty",)),
    "npz-truncated": Case("data", dataset_upload(_valid_npz_truncated), ("looks truncated",)),
    "npz-missing-keys": Case("data", dataset_upload(lambda: npz(x_test=None, y_test=None)),
                             ("missing x_test, y_test", "Found keys: x_train, y_train")),
    "npz-flat-images": Case("data", dataset_upload(
        lambda: npz(x_train=arrays()["x_train"].reshape(30, 784))),
        ("x_train has shape (30, 784)", "expected grey images N×H×W")),
    "npz-rgba-images": Case("data", dataset_upload(
        lambda: npz(x_train=np.zeros((30, 28, 28, 4), np.uint8))),
        ("x_train has 4 channels", "RGB colour (N×H×W×3)")),
    "npz-fractional-labels": Case("data", dataset_upload(
        lambda: npz(y_train=np.linspace(0, 2, 30))), ("y_train holds non-integer values",)),
    "npz-negative-label": Case("data", dataset_upload(
        lambda: npz(y_test=np.array([-1] + [0, 1, 2] * 3 + [0, 1]))),
        ("y_test has a negative label (-1)", "start at 0")),
    "npz-label-out-of-range": Case("data", dataset_upload(
        lambda: npz(y_train=np.array([99_999] + [0, 1, 2] * 9 + [0, 1]))),
        ("y_train has label 99999", "classes")),
    "npz-mismatched-lengths": Case("data", dataset_upload(
        lambda: npz(y_train=np.arange(29) % 3)),
        ("y_train has 29 labels but x_train has 30 images",)),
    "npz-one-hot-labels": Case("data", dataset_upload(
        lambda: npz(y_train=np.eye(3, dtype=int)[np.arange(30) % 3])),
        ("looks one-hot encoded", "argmax")),
    "npz-pickled-objects": Case("data", dataset_upload(_pickled_images),
                                ("x_train holds Python objects", "not allowed")),
    "npz-nan-pixels": Case("data", dataset_upload(
        lambda: npz(x_test=np.full((12, 28, 28), np.nan))), ("x_test contains NaN",)),
    "npz-too-big": Case("data", dataset_upload(_big_npz), ("limited to 1 MB",),
                        env={"DASHCORE_UPLOAD_MB": "1"}),
    "npz-too-many-images": Case("data", dataset_upload(npz()),
                                ("The dataset has 42 images; the limit is 10",),
                                env={"DASHCORE_MAX_DATASET_IMAGES": "10"}),
    "npz-path-in-name": Case("data", dataset_upload(npz(), name="../../etc/passwd"),
                             ("Dataset name '../../etc/passwd' is not allowed",)),
    "npz-name-taken": Case("data", dataset_upload(npz(seed=5), name="digits"),
                           ("A dataset named 'digits' already exists",),
                           setup=an_existing_dataset),
    # /data: zip of class folders
    "zip-not-a-zip": Case("data", zip_upload(b"circle,square\n"),
                          ("This is not a .zip file", "one folder per class")),
    "zip-empty": Case("data", zip_upload(b""), ("The file is empty",)),
    "zip-truncated": Case("data", zip_upload(lambda: shapes_zip()[:3_000]),
                          ("starts like a .zip but is incomplete",)),
    "zip-path-traversal": Case("data", zip_upload(lambda: make_zip(
        {"circle/a.png": picture(), "../../evil/b.png": picture(seed=1)})),
        ("climbs out of its folder", "'../../evil/b.png'")),
    "zip-absolute-path": Case("data", zip_upload(lambda: make_zip(
        {"circle/a.png": picture(), "/etc/cron.d/x.png": picture(seed=1)})),
        ("an absolute path", "'/etc/cron.d/x.png'")),
    "zip-symlink": Case("data", zip_upload(_symlink_member),
                        ("symbolic link", "'circle/link.png'")),
    "zip-encrypted": Case("data", zip_upload(_encrypted_member), ("password-protected",)),
    "zip-bomb": Case("data", zip_upload(_zip_bomb), ("would unpack to 3 MB", "limit is 1 MB",
                                                     "DASHCORE_UNPACKED_MB"),
                     env={"DASHCORE_UNPACKED_MB": "1"}),
    "zip-decoded-too-big": Case("data", zip_upload(lambda: shapes_zip(per_class=40), side=64),
                                ("120 images of 64×64×3 would take 1 MB",
                                 "Choose a smaller size, grey"),
                                env={"DASHCORE_UNPACKED_MB": "1"}),
    "zip-too-many-files": Case("data", zip_upload(lambda: shapes_zip(per_class=4)),
                               ("The zip holds 12 files; at most 10 images",
                                "DASHCORE_MAX_DATASET_IMAGES"),
                               env={"DASHCORE_MAX_DATASET_IMAGES": "10"}),
    "zip-too-big": Case("data", zip_upload(lambda: make_zip(
        {"a/x.bmp": np.random.default_rng(0).bytes(1_500_000)})),
                        ("uploads are limited to 1 MB",), env={"DASHCORE_UPLOAD_MB": "1"}),
    "zip-one-class": Case("data", zip_upload(_one_class),
                          ("Only 1 usable class found", "at least two class folders")),
    "zip-no-class-folders": Case("data", zip_upload(lambda: make_zip(
        {"a.png": picture(), "b.png": picture(seed=1)})),
        ("Only 0 usable classes found", "a.png: not inside a class folder")),
    "zip-no-images": Case("data", zip_upload(lambda: make_zip(
        {"circle/notes.txt": b"hello", "square/list.csv": b"1,2"})),
        ("Only 0 usable classes", "not an image (PNG, JPEG, GIF, BMP or WebP)")),
    "zip-only-duplicates": Case("data", zip_upload(_duplicated_class),
                                ("Only 1 usable class", "the same file as circle/0.png")),
    "zip-every-image-too-large": Case("data", zip_upload(lambda: shapes_zip(per_class=2)),
                                      ("Only 0 usable classes", "images up to 0.0001 megapixels"),
                                      env={"DASHCORE_MAX_IMAGE_PIXELS": "100"}),
    "zip-class-names-with-control-characters": Case("data", zip_upload(lambda: make_zip(
        {f"{name}/{i}.png": picture(seed=i + 9 * k) for k, name in
         enumerate(("a\u202eb", "c\x07d")) for i in range(2)})),
        ("Only 0 usable classes", "invisible or control character")),
    "zip-test-without-train": Case("data", zip_upload(lambda: make_zip(
        {f"test/{name}/{i}.png": picture(seed=i + 9 * k) for k, name in
         enumerate(("circle", "square")) for i in range(2)})),
        ("a test/ folder but no train/ folder",)),
    "zip-unknown-colour-mode": Case("data", zip_upload(shapes_zip, colour="cmyk"),
                                    ("Colour mode 'cmyk' is not offered", "'grey' or 'rgb'")),
    "zip-absurd-size": Case("data", zip_upload(shapes_zip, side=4096),
                            ("Image size 4096 is not allowed", "8 to 256")),
    "zip-path-in-name": Case("data", zip_upload(shapes_zip, name="../x"),
                             ("Dataset name '../x' is not allowed",)),
    "zip-name-taken": Case("data", zip_upload(shapes_zip, name="digits"),
                           ("A dataset named 'digits' already exists",),
                           setup=an_existing_dataset),
    # /models: model upload
    "model-not-a-zip": Case("models", model_upload_of(bytes(range(256)) * 8, "random.keras"),
                            ("not a Keras model",)),
    "model-empty": Case("models", model_upload_of(b"", "empty.keras"), ("is empty",)),
    "model-truncated": Case("models", model_upload_of(model_file("tutorial_cnn.keras", 0.5),
                                                      "tutorial_cnn.keras"), ("truncated",)),
    "model-lambda": Case("models", model_upload_of(model_file("lambda.keras"), "lambda.keras"),
                         ("Lambda layer", "arbitrary code execution")),
    "model-custom-object": Case("models", model_upload_of(model_file("custom.keras"),
                                                          "custom.keras"),
                                ("Doubler", "arbitrary code execution")),
    "model-colour-input": Case("models", model_upload_of(model_file("rgb.keras"), "rgb.keras"),
                               ("32×32×3", "3 channels")),
    "model-weights-only": Case("models", model_upload_of(model_file("weights.h5"),
                                                         "weights.h5"), ("model.save(",)),
    "model-huge": Case("models", model_upload_of(b"PK\x03\x04" + bytes(2 << 20), "huge.keras"),
                       ("over the 1 MB upload limit",), env={"DASHCORE_UPLOAD_MB": "1"}),
    "model-path-traversal-name": Case("models", model_upload_of(b"PK\x03\x04", "../../x.keras"),
                                      ("folder path",)),
    "model-wrong-extension": Case("models", model_upload_of(b"hello", "notes.txt"),
                                  ("'.keras' or legacy '.h5'",)),
    "model-zip-slip": Case("models", model_upload_of(make_zip({"../config.json": b"{}"}),
                                                     "outside.keras"), ("outside",)),
    "model-rename-empty": Case("models", lambda r: registry.rename_model("some-model", "  "),
                               ("A model name needs 1 to 80 characters",)),
    "model-default-that-is-gone": Case("models", lambda r: registry.set_default_model("gone-1"),
                                       ("Model 'gone-1' does not exist",)),
    "model-rename-built-in": Case("models", lambda r: registry.rename_model(
        registry.BUILTIN_ID, "mine now"), ("built-in default model cannot be renamed",)),
    # /draw: canvas and 'Save as example'
    "draw-empty-canvas": Case("draw", canvas(_BLANK_RGBA), (EMPTY_MESSAGE,)),
    "draw-canvas-not-an-image": Case("draw", canvas(np.zeros(280, np.uint8)),
                                     ("Expected a grey, RGB or RGBA image", "shape (280,)"),
                                     error=ValueError),
    "draw-label-10": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), 10),
                          ("Label 10 is not a digit", "0 to 9")),
    "draw-label-float": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), 7.5),
                             ("Label 7.5 is not a digit", "class name of your own")),
    "draw-class-name-with-newline": Case("draw", save_drawing(
        np.zeros((28, 28), np.uint8), "circle\nsquare"),
        ("Class name 'circle\\nsquare' contains an invisible or control character",)),
    "draw-class-name-bidi-override": Case("draw", save_drawing(
        np.zeros((28, 28), np.uint8), "abc\u202edef"), ("U+202E",)),
    "draw-class-name-too-long": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), "x" * 41),
                                     ("A class name needs 1 to 40 characters; got 41",)),
    "draw-class-name-blank": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), "   "),
                                  ("A class name needs 1 to 40 characters; got 0",)),
    "draw-whole-canvas-not-28x28": Case("draw", save_drawing(np.zeros((280, 280), np.uint8)),
                                        ("must be the 28×28 image", "got shape (280, 280)")),
    "draw-text-pixels": Case("draw", save_drawing(np.full((28, 28), "x")),
                             ("must hold pixel numbers", "got dtype <U1")),
    "draw-nan-pixels": Case("draw", save_drawing(np.full((28, 28), np.nan)),
                            ("contains NaN or infinite values",)),
    # /train: the run's name box
    "rename-empty": Case("train", rename_run("   "),
                         ("A run name needs 1 to 80 characters; got 0",), setup=an_existing_run),
    "rename-too-long": Case("train", rename_run("x" * 200),
                            ("A run name needs 1 to 80 characters; got 200",),
                            setup=an_existing_run),
    "rename-missing-run": Case("train", rename_run("new name", run_id="r-gone"),
                               ("Run 'r-gone' does not exist",), setup=an_existing_run),
    "stop-a-finished-run": Case("train", lambda r: queue.stop("r-done"),
                                ("is already completed: there is nothing to stop",),
                                setup=a_finished_run),
    # sign-in
    "sign-in-wrong-password": Case("sign-in", sign_in("ann", "Correct horse"),
                                   ("Wrong user name or password",)),
    "sign-in-empty-password": Case("sign-in", sign_in("ann", ""),
                                   ("Wrong user name or password",)),
    "sign-in-unknown-user": Case("sign-in", sign_in("mallory", "correct horse"),
                                 ("Wrong user name or password",)),
    "sign-in-empty-name": Case("sign-in", sign_in("   ", "correct horse"),
                               ("Wrong user name or password",)),
    "sign-in-hash-empty-password": Case("sign-in", lambda r: hash_password(""),
                                        ("A password cannot be empty",)),
    # names, from every source: shown to everyone on one line, as typed
    "model-rename-newline-heading": Case(
        "models", lambda r: registry.rename_model("some-model", "ok\n# IMPORTANT: sign in"),
        ("A model name may not contain a line break at position 3",)),
    "model-rename-rtl-override": Case(
        "models", lambda r: registry.rename_model("some-model", "report\u202eexe.pdf"),
        ("text-direction control (U+202E RIGHT-TO-LEFT OVERRIDE)",)),
    "model-rename-nul": Case("models", lambda r: registry.rename_model("some-model", "a\x00b"),
                             ("A model name may not contain a NUL character",)),
    "model-upload-name-newline": Case(
        "models", lambda r: upload.import_model(b"PK\x03\x04", "m.keras", name="a\nb"),
        ("A model name may not contain a line break",)),
    "model-upload-filename-10000-chars": Case(
        "models", model_upload_of(b"PK\x03\x04", "x" * 10_000 + ".keras"),
        ("The file name is 10,006 characters long; at most 255",)),
    "model-upload-filename-rtl": Case(
        "models", model_upload_of(b"PK\x03\x04", "sa\u202esarek.keras"),
        ("The file name contains a text-direction control (U+202E",)),
    "run-rename-newline": Case("train", rename_run("fine\n[click](http://evil.example)"),
                               ("A run name may not contain a line break",),
                               setup=an_existing_run),
    "run-rename-isolate": Case("train", rename_run("run\u2067x"),
                               ("U+2067 RIGHT-TO-LEFT ISOLATE",), setup=an_existing_run),
    "arch-json-name-with-newline": Case(
        "architecture", spec_upload('{"name": "a\\n# b", "layers": []}'),
        ("An architecture name may not contain a line break",)),
    "arch-json-name-10000-chars": Case(
        "architecture", spec_upload('{"name": "' + "x" * 10_000 + '", "layers": []}'),
        ("An architecture name needs 1 to 60 characters; got 10,000",)),
    "npz-name-with-newline": Case("data", dataset_upload(npz(), name="mine\n# yours"),
                                  ("A dataset name may not contain a line break",)),
    "access-user-name-with-rtl": Case(
        "sign-in", lambda r: AccessConfig.from_mapping(
            {"mode": "password", "passwords": {"ann\u202e": "pbkdf2_sha256$1$x$y"}}),
        ("A user name may not contain a text-direction control",)),
    # sizes known before bytes are spent
    "npz-decompression-bomb": Case("data", dataset_upload(bomb_npz),
                                   ("132 MB once decompressed; the limit is 100 MB",
                                    "DASHCORE_DATASET_MB"), env={"DASHCORE_DATASET_MB": "100"}),
    "npz-bomb-over-the-image-count": Case(
        "data", dataset_upload(bomb_npz), ("2,012 images; the limit is 1,000",
                                           "DASHCORE_MAX_DATASET_IMAGES"),
        env={"DASHCORE_MAX_DATASET_IMAGES": "1000"}),
    "data-load-outside-the-datasets-folder": Case(
        "data", lambda r: catalog.load_dataset("upload:../../x"),
        ("There is no uploaded dataset called '../../x'",)),
    "draw-forged-canvas-12000-px": Case(
        "draw", lambda r: decode_canvas_png(forged_png(12_000, 12_000), get_settings().limits),
        ("12,000×12,000 pixels", "DASHCORE_CANVAS_PIXELS")),
    "draw-canvas-pillow-bomb": Case(
        "draw", lambda r: decode_canvas_png(forged_png(16_000, 16_000), get_settings().limits),
        ("could not be read (DecompressionBombError)",),
        env={"DASHCORE_CANVAS_PIXELS": "1000000000"}),
    "draw-saved-picture-600-kb": Case(
        "draw", save_drawing(np.zeros((28, 28), np.uint8), 3, b"\x89PNG" + bytes(600 << 10)),
        ("600 KB; the limit is 512 KB", "DASHCORE_DRAWING_KB"),
        env={"DASHCORE_DRAWING_KB": "512"}),
    "draw-saved-picture-not-png": Case(
        "draw", save_drawing(np.zeros((28, 28), np.uint8), 3, b"GIF89a" + bytes(100)),
        ("not a PNG image",)),
    # model archives judged by cheap facts first
    "model-1001-members": Case(
        "models", model_upload_of(lambda r: make_zip({"config.json": b"{}", **{
            f"assets/{n}": b"" for n in range(1_000)}}), "many.keras"), ("holds 1,001 files",)),
    "model-lookup-vocabulary-file": Case(
        "models", model_upload_of(make_zip({"config.json": json.dumps(_LOOKUP).encode()}),
                                  "lookup.keras"),
        ("reads its vocabulary from a file path ('/etc/passwd')",)),
    # /evaluate: the split picker
    "evaluate-model-with-5-classes-on-mnist": Case(
        "evaluate", lambda r: check_fit((28, 28, 1), 5, (28, 28), 10, "MNIST"),
        ("The model outputs 5 classes but MNIST has 10",)),
    "evaluate-colour-model-on-grey-images": Case(
        "evaluate", lambda r: check_fit((32, 32, 3), 10, (28, 28), 10, "MNIST"),
        ("expects inputs of shape 32×32×3", "28×28 grey")),
    "evaluate-unknown-split": Case("evaluate", lambda r: catalog.load_mnist().split("valid"),
                                   ("Unknown split 'valid'", "'train' or 'test'")),
}


# Budgets and sign-in throttling: a shared server's limits per person and per job.
_WIDE_CONVS = specs.ModelSpec(name="Two wide convs", layers=[
    {"type": "Conv2D", "filters": 1024}, {"type": "Conv2D", "filters": 1024}, _FLAT,
    _OUT]).to_dict()
_ANN = User("ann")


def anns_big_run() -> None:
    """A finished run of ann's whose folder already fills a 1 MB quota."""
    open_store().create_run(RunRecord(run_id="r-ann", name="ann's", status="completed",
                                      owner="ann"))
    folder = get_settings().runs_dir / "r-ann"
    folder.mkdir(parents=True)
    (folder / "best.weights.h5").write_bytes(bytes(1_100_000))


def anns_name_locked() -> None:
    """Someone has guessed ann's password many times in a row just now."""
    for _ in range(FREE_FAILURES + 1):
        THROTTLE.failed(sign_in_keys("ann"))


CASES.update({
    "train-200-epochs-of-batch-1": Case(
        "train", train(architecture=specs.ModelSpec.from_dict(TINY).to_dict(), epochs=200,
                       batch_size=1, max_train_images=0),
        ("TMAC of training work", "200 epochs × 54,000 steps of 1 image",
         "DASHCORE_MAX_TRAINING_TMAC")),
    "train-wide-convs-at-batch-4096": Case(
        "train", train(architecture=_WIDE_CONVS, batch_size=4096),
        ("At batch size 4,096", "Use a batch size of at most", "DASHCORE_MAX_ACTIVATION_MB")),
    "train-over-disk-quota": Case(
        "train", lambda r: queue.submit(TrainConfig(architecture=TINY, epochs=1),
                                        launcher=FakeLauncher(), user=_ANN),
        ("disk quota", "a new run cannot be started", "DASHCORE_USER_DISK_MB"),
        env={"DASHCORE_USER_DISK_MB": "1"}, setup=anns_big_run),
    "data-over-disk-quota": Case(
        "data", lambda r: uploads.save_uploaded_dataset("more", npz(), user=_ANN),
        ("disk quota", "this dataset", "DASHCORE_USER_DISK_MB"),
        env={"DASHCORE_USER_DISK_MB": "1"}, setup=anns_big_run),
    "draw-canvas-not-png": Case(
        "draw", lambda r: drawings.save_drawing(np.zeros((28, 28), np.uint8), 3,
                                                b"GIF89a" + bytes(60_000_000)),
        ("58,594 KB; the limit is 1,024 KB", "DASHCORE_DRAWING_KB")),
    "sign-in-after-many-guesses": Case(
        "sign-in", sign_in("ann", "correct horse"),
        ("Too many wrong passwords for this user name: try again in",),
        setup=anns_name_locked),
})


# ---------------------------------------------------------------- the checks


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file the data folder holds (relative name → bytes), lock and WAL files aside."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(_INFRASTRUCTURE)}


def test_the_corpus_covers_every_form_with_at_least_thirty_cases() -> None:
    forms = {case.form for case in CASES.values()}
    assert forms == {"train", "architecture", "data", "models", "draw", "sign-in", "evaluate"}
    assert len(CASES) >= 30


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    case = CASES[case_id]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if case.setup is not None:
        case.setup()
    before = files_under(dashcore_home)
    runs_before = [(r.run_id, r.name) for r in open_store().list_runs()] \
        if get_settings().store_path.exists() else []

    try:
        shown = case.attempt(request)
    except case.error as exc:
        shown = str(exc)
    assert isinstance(shown, str), f"{case_id} was accepted: {shown!r}"

    for fragment in case.message:
        assert fragment in shown, f"{fragment!r} not in {shown!r}"
    assert "Traceback" not in shown and len(shown) < 1_000
    assert files_under(dashcore_home) == before  # nothing new, nothing half-written
    if get_settings().store_path.exists():
        assert [(r.run_id, r.name) for r in open_store().list_runs()] == runs_before
