"""The bad-input corpus, split by form, still covers every form and loses no case."""

from __future__ import annotations

from tests.unit import (
    test_bad_input_access,
    test_bad_input_datasets,
    test_bad_input_drawings,
    test_bad_input_images,
    test_bad_input_limits,
    test_bad_input_models,
    test_bad_input_names,
)

FILES = (test_bad_input_datasets, test_bad_input_images, test_bad_input_models,
         test_bad_input_drawings, test_bad_input_names, test_bad_input_access,
         test_bad_input_limits)
BEFORE_THE_SPLIT = 128  # cases in the one-file corpus this split came from
ADDED = 9  # the shared-server budgets: zip CPU, drawing shares, exports, sign-in in the store


def test_every_form_has_its_file_and_no_case_is_lost() -> None:
    ids = [case_id for module in FILES for case_id in module.CASES]
    assert len(ids) == len(set(ids))  # one id, one row
    assert len(ids) >= BEFORE_THE_SPLIT + ADDED
    forms = {case.form for module in FILES for case in module.CASES.values()}
    assert forms == {"train", "architecture", "data", "models", "draw", "sign-in", "evaluate"}
