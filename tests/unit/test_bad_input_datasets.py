"""Bad input: uploaded .npz datasets and stored datasets.

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets import catalog
from dashcore.settings import get_settings
from tests.helpers.corpus import (
    Case,
    an_existing_dataset,
    check_case,
    dataset_upload,
    pickled_images,
    valid_npz_truncated,
)
from tests.helpers.datasets import arrays, npz

CASES: dict[str, Case] = {
    "npz-not-a-zip": Case("data", dataset_upload(b"x_train,y_train\n1,2\n"),
                          ("This is not a .npz file", "numpy.savez")),
    "npz-empty": Case("data", dataset_upload(b""), ("The file is empty",)),
    "npz-truncated": Case("data", dataset_upload(valid_npz_truncated), ("looks truncated",)),
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
    "npz-pickled-objects": Case("data", dataset_upload(pickled_images),
                                ("x_train holds Python objects", "not allowed")),
    "npz-nan-pixels": Case("data", dataset_upload(
        lambda: npz(x_test=np.full((12, 28, 28), np.nan))), ("x_test contains NaN",)),
    "npz-name-taken": Case("data", dataset_upload(npz(seed=5), name="digits"),
                           ("A dataset named 'digits' already exists",),
                           setup=an_existing_dataset),
    "data-load-outside-the-datasets-folder": Case(
        "data", lambda r: catalog.load_dataset("upload:../../x", settings=get_settings()),
        ("There is no uploaded dataset called '../../x'",)),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
