"""Access control: hashing, sign-in, and who may do what."""

import pytest

from dashcore.access.auth import (
    AccessConfig,
    User,
    authorize,
    can,
    hash_password,
    require,
    verify_password,
    why_not,
)
from dashcore.errors import PermissionDenied, UserError

FAST = 1_000  # iterations for tests: the format is what matters here


def test_a_hashed_password_verifies_and_a_wrong_one_does_not() -> None:
    hashed = hash_password("correct horse", iterations=FAST)
    assert hashed.startswith("pbkdf2_sha256$1000$")
    assert "correct horse" not in hashed
    assert verify_password("correct horse", hashed)
    assert not verify_password("correct hors", hashed)
    assert not verify_password("x", "not-a-hash")


def test_two_hashes_of_the_same_password_differ_by_salt() -> None:
    assert hash_password("pw", iterations=FAST) != hash_password("pw", iterations=FAST)


def test_access_is_off_by_default_and_the_local_user_can_do_everything() -> None:
    config = AccessConfig.from_mapping(None)
    user = config.user(None)
    assert not config.enabled
    for action in ("train", "upload", "manage", "admin"):
        assert can(user, action, owner="someone")


def test_password_mode_signs_in_with_the_right_password_only() -> None:
    config = AccessConfig.from_mapping({
        "mode": "password", "admins": ["alice"],
        "passwords": {"alice": hash_password("a-pw", iterations=FAST),
                      "bob": hash_password("b-pw", iterations=FAST)}})
    assert config.sign_in("bob", "b-pw") == User("bob", is_admin=False)
    assert config.sign_in("alice", "a-pw").is_admin
    for name, password in (("bob", "a-pw"), ("mallory", "b-pw")):
        with pytest.raises(PermissionDenied, match="Wrong user name or password"):
            config.sign_in(name, password)


def test_only_the_owner_or_an_admin_may_manage_a_thing() -> None:
    bob, carol, admin = User("bob"), User("carol"), User("alice", is_admin=True)
    assert can(bob, "manage", owner="bob")
    assert not can(carol, "manage", owner="bob")
    assert can(admin, "manage", owner="bob")
    with pytest.raises(PermissionDenied, match="Only bob or an admin"):
        require(carol, "manage", owner="bob", what="this run")


def test_visitors_and_demo_users_may_draw_but_not_train_or_upload() -> None:
    demo = AccessConfig.from_mapping({"mode": "off", "demo": True}).user(None)
    visitor = AccessConfig.from_mapping({
        "mode": "password", "visitors": True,
        "passwords": {"a": hash_password("p", iterations=FAST)}}).user(None)
    for user in (demo, visitor):
        assert can(user, "draw") and can(user, "evaluate")
        for action in ("train", "upload", "save_drawing", "manage"):
            assert not can(user, action)
        with pytest.raises(PermissionDenied, match="read-only"):
            require(user, "train")


@pytest.mark.parametrize("raw, message", [
    ({"mode": "ldap"}, "use one of off, password, oidc"),
    ({"mode": "password"}, "is empty"),
    ({"mode": "password", "passwords": {"bob": "hunter2"}}, "not hashes"),
])
def test_a_misconfigured_access_table_is_explained(raw: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        AccessConfig.from_mapping(raw)


def test_demo_mode_says_it_is_a_demo_and_admins_still_may_act() -> None:
    config = AccessConfig.from_mapping({
        "mode": "password", "demo": True, "admins": ["alice"],
        "passwords": {"a": hash_password("p", iterations=FAST)}})
    bob, alice = config.user("bob"), config.user("alice")
    assert why_not(bob, "train") == ("This is a read-only demo: you can draw and explore, but "
                                     "not train, upload or change things.")
    assert why_not(bob, "draw") is None
    assert why_not(alice, "train") is None and why_not(alice, "admin") is None


def test_a_thing_without_an_owner_is_for_admins() -> None:
    assert not can(User("bob"), "manage", owner=None)
    assert why_not(User("bob"), "manage", None, "this model") == (
        "Only an admin can change this model: it has no recorded owner.")


def test_authorize_trusts_a_caller_without_a_user_and_checks_one_with_a_user() -> None:
    authorize(None, "admin")  # scripts and the worker run as the machine's owner
    with pytest.raises(PermissionDenied, match="Only an admin"):
        authorize(User("bob"), "admin", what="the default model")
