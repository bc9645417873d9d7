"""The bad-input corpus, split by form, still covers every form and loses no case."""

from __future__ import annotations

import importlib

FORMS = ("datasets", "images", "models", "drawings", "names", "access", "limits")
# The corpus files are test modules: read here by name, as pytest collects them.
FILES = tuple(importlib.import_module(f"tests.unit.test_bad_input_{form}") for form in FORMS)
BEFORE_THE_SPLIT = 128  # cases in the one-file corpus this split came from
ADDED = 9  # the shared-server budgets: zip CPU, drawing shares, exports, sign-in in the store


def test_every_form_has_its_file_and_no_case_is_lost() -> None:
    ids = [case_id for module in FILES for case_id in module.CASES]
    assert len(ids) == len(set(ids))  # one id, one row
    assert len(ids) >= BEFORE_THE_SPLIT + ADDED
    forms = {case.form for module in FILES for case in module.CASES.values()}
    assert forms == {"train", "architecture", "data", "models", "draw", "sign-in", "evaluate"}
