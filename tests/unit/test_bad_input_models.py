"""Bad input: model uploads, the architecture builder and its JSON, evaluation.

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashcore.datasets import catalog
from dashcore.evaluation.splits import check_fit
from dashcore.models import registry, specs
from dashcore.settings import get_settings
from tests.helpers.corpus import (
    DEEP_JSON,
    FLAT,
    LOOKUP,
    OUT,
    Case,
    check_case,
    model_file,
    model_upload_of,
    spec_upload,
    stack_problem,
)
from tests.helpers.datasets import make_zip

CASES: dict[str, Case] = {
    "arch-conv-after-flatten": Case("architecture", stack_problem(
        FLAT, {"type": "Conv2D", "filters": 8}, OUT), ("Layer 2 (Conv2D) needs an image",)),
    "arch-absurd-units": Case("architecture", stack_problem(
        FLAT, {"type": "Dense", "units": 64_000}, OUT),
        ("Layer 2 (Dense) has units = 64,000", "from 1 to 10,000")),
    "arch-zero-filters": Case("architecture", stack_problem(
        {"type": "Conv2D", "filters": 0}, FLAT, OUT),
        ("Layer 1 (Conv2D) has filters = 0", "e.g. 32")),
    "arch-dropout-1.5": Case("architecture", stack_problem(
        FLAT, {"type": "Dropout", "rate": 1.5}, OUT), ("Layer 2 (Dropout)", "below 1")),
    "arch-lambda-layer": Case("architecture", stack_problem(
        {"type": "Lambda", "function": "exec"}, FLAT, OUT),
        ("type 'Lambda'", "Dense, Conv2D")),
    "arch-empty-stack": Case("architecture", stack_problem(), ("no layers", "Pick a preset")),
    "arch-reshape-target-as-words": Case("architecture", lambda r: specs.parse_shape("28 by 28"),
                                         ("'28 by 28' is not a shape", "e.g. 28, 28")),
    "arch-json-not-json": Case("architecture", spec_upload("{layers: Dense}"),
                               ("This is not valid JSON", "line 1")),
    "arch-json-a-list": Case("architecture", spec_upload("[1, 2]"), ("expected an object",)),
    "arch-json-layers-not-a-list": Case("architecture", spec_upload('{"layers": "Dense"}'),
                                        ("'layers' is a str, not a list",)),
    "arch-json-nested-50000-deep": Case("architecture", spec_upload(DEEP_JSON),
                                        ("nested too deeply",)),
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
    "model-wrong-extension": Case("models", model_upload_of(b"hello", "notes.txt"),
                                  ("'.keras' or legacy '.h5'",)),
    "model-zip-slip": Case("models", model_upload_of(make_zip({"../config.json": b"{}"}),
                                                     "outside.keras"), ("outside",)),
    "model-default-that-is-gone": Case(
        "models", lambda r: registry.set_default_model("gone-1", get_settings()),
        ("Model 'gone-1' does not exist",)),
    "model-rename-built-in": Case("models", lambda r: registry.rename_model(
        registry.BUILTIN_ID, "mine now", settings=get_settings()),
        ("built-in default model cannot be renamed",)),
    "model-1001-members": Case(
        "models", model_upload_of(lambda r: make_zip({"config.json": b"{}", **{
            f"assets/{n}": b"" for n in range(1_000)}}), "many.keras"), ("holds 1,001 files",)),
    "model-lookup-vocabulary-file": Case(
        "models", model_upload_of(make_zip({"config.json": json.dumps(LOOKUP).encode()}),
                                  "lookup.keras"),
        ("reads its vocabulary from a file path ('/etc/passwd')",)),
    "evaluate-model-with-5-classes-on-mnist": Case(
        "evaluate", lambda r: check_fit((28, 28, 1), 5, (28, 28), 10, "MNIST"),
        ("The model outputs 5 classes but MNIST has 10",)),
    "evaluate-colour-model-on-grey-images": Case(
        "evaluate", lambda r: check_fit((32, 32, 3), 10, (28, 28), 10, "MNIST"),
        ("expects inputs of shape 32×32×3", "28×28 grey")),
    "evaluate-unknown-split": Case("evaluate", lambda r: catalog.load_mnist().split("valid"),
                                   ("Unknown split 'valid'", "'train' or 'test'")),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
