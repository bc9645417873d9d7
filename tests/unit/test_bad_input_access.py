"""Bad input: sign-in and who may do what.

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcore.access.auth import AccessConfig, hash_password
from dashcore.errors import PermissionDenied
from dashcore.models import registry
from tests.helpers.corpus import (
    VISITOR,
    Case,
    anns_name_locked,
    anns_name_locked_in_the_store,
    check_case,
    export_as,
    second_import,
    sign_in,
    sign_in_after_a_restart,
)

CASES: dict[str, Case] = {
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
    "access-user-name-with-rtl": Case(
        "sign-in", lambda r: AccessConfig.from_mapping(
            {"mode": "password", "passwords": {"ann\u202e": "pbkdf2_sha256$1$x$y"}}),
        ("A user name may not contain a text-direction control",)),
    "sign-in-after-many-guesses": Case(
        "sign-in", sign_in("ann", "correct horse"),
        ("Too many wrong passwords for this user name: try again in",),
        setup=anns_name_locked),
    "visitor-starts-an-export": Case("models", export_as(VISITOR, registry.BUILTIN_ID),
                                     ("read-only for visitors",), error=PermissionDenied),
    "import-while-ones-first-still-runs": Case("data", second_import,
                                               ("You already have one import running",)),
    "sign-in-after-a-restart": Case("sign-in", sign_in_after_a_restart,
                                    ("Too many wrong passwords for this user name",),
                                    setup=anns_name_locked_in_the_store),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
