"""Bad input: names people type or upload, shown to everyone.

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcore.models import registry, upload
from dashcore.settings import get_settings
from tests.helpers.corpus import (
    Case,
    an_existing_run,
    check_case,
    dataset_upload,
    model_upload_of,
    rename_run,
    spec_upload,
    zip_upload,
)
from tests.helpers.datasets import npz, shapes_zip

CASES: dict[str, Case] = {
    "npz-path-in-name": Case("data", dataset_upload(npz(), name="../../etc/passwd"),
                             ("Dataset name '../../etc/passwd' is not allowed",)),
    "zip-path-in-name": Case("data", zip_upload(shapes_zip, name="../x"),
                             ("Dataset name '../x' is not allowed",)),
    "model-path-traversal-name": Case("models", model_upload_of(b"PK\x03\x04", "../../x.keras"),
                                      ("folder path",)),
    "model-rename-empty": Case("models", lambda r: registry.rename_model("some-model", "  ",
                                                                         settings=get_settings()),
                               ("A model name needs 1 to 80 characters",)),
    "rename-empty": Case("train", rename_run("   "),
                         ("A run name needs 1 to 80 characters; got 0",), setup=an_existing_run),
    "rename-too-long": Case("train", rename_run("x" * 200),
                            ("A run name needs 1 to 80 characters; got 200",),
                            setup=an_existing_run),
    "rename-missing-run": Case("train", rename_run("new name", run_id="r-gone"),
                               ("Run 'r-gone' does not exist",), setup=an_existing_run),
    "model-rename-newline-heading": Case(
        "models", lambda r: registry.rename_model("some-model", "ok\n# IMPORTANT: sign in",
                                                  settings=get_settings()),
        ("A model name may not contain a line break at position 3",)),
    "model-rename-rtl-override": Case(
        "models", lambda r: registry.rename_model("some-model", "report\u202eexe.pdf",
                                                  settings=get_settings()),
        ("text-direction control (U+202E RIGHT-TO-LEFT OVERRIDE)",)),
    "model-rename-nul": Case("models", lambda r: registry.rename_model("some-model", "a\x00b",
                                                                       settings=get_settings()),
                             ("A model name may not contain a NUL character",)),
    "model-upload-name-newline": Case(
        "models", lambda r: upload.import_model(b"PK\x03\x04", "m.keras", name="a\nb",
                                                settings=get_settings()),
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
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
