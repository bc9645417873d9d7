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
from dashcore.access.throttle import HashGate, SignInThrottle, SignInThrottled
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


# ---------------------------------------------------------------- guessing


def _config(**extra) -> AccessConfig:
    return AccessConfig.from_mapping({
        "mode": "password", "admins": ["alice"],
        "passwords": {"bob": hash_password("b-pw", iterations=FAST)}, **extra})


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_a_few_wrong_passwords_a_name_waits_and_is_told_how_long() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(free_failures=3, first_wait_s=40, clock=clock)
    config = _config()
    for _ in range(3):
        with pytest.raises(PermissionDenied, match="Wrong user name or password"):
            config.sign_in("bob", "guess", throttle=throttle)
    with pytest.raises(PermissionDenied, match="Wrong user name or password"):
        config.sign_in("bob", "guess-4", throttle=throttle)  # the 4th failure locks the name
    with pytest.raises(SignInThrottled) as refused:
        config.sign_in("bob", "b-pw", throttle=throttle)  # even the right password waits
    assert str(refused.value) == ("Too many wrong passwords for this user name: try again in "
                                  "40 s.")
    clock.now += 41
    assert config.sign_in("bob", "b-pw", throttle=throttle).name == "bob"


def test_each_further_failure_doubles_the_wait_up_to_a_ceiling() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(free_failures=0, first_wait_s=10, max_wait_s=60, clock=clock)
    waits = []
    for _ in range(5):
        throttle.failed([("name", "bob")])
        with pytest.raises(SignInThrottled) as refused:
            throttle.check([("name", "bob")])
        waits.append(round(refused.value.retry_after_s))
    assert waits == [10, 20, 40, 60, 60]


def test_unknown_names_are_locked_out_like_known_ones() -> None:
    throttle = SignInThrottle(free_failures=2, first_wait_s=40, clock=FakeClock())
    config = _config()
    for name in ("bob", "mallory"):
        for _ in range(3):
            with pytest.raises(PermissionDenied, match="Wrong user name or password"):
                config.sign_in(name, "guess", throttle=throttle)
        with pytest.raises(SignInThrottled, match="for this user name: try again in"):
            config.sign_in(name, "guess", throttle=throttle)


def test_guessing_across_names_from_one_session_or_address_is_slowed_too() -> None:
    throttle = SignInThrottle(free_failures=2, first_wait_s=40, clock=FakeClock())
    config = _config()
    for name in ("n1", "n2", "n3"):
        with pytest.raises(PermissionDenied, match="Wrong user name"):
            config.sign_in(name, "x", session="tab-1", throttle=throttle)
    with pytest.raises(SignInThrottled, match="from this browser tab"):
        config.sign_in("n4", "x", session="tab-1", throttle=throttle)
    for name in ("m1", "m2", "m3"):
        with pytest.raises(PermissionDenied, match="Wrong user name"):
            config.sign_in(name, "x", session=name, client="203.0.113.9", throttle=throttle)
    with pytest.raises(SignInThrottled, match="from your network address"):
        config.sign_in("m4", "x", session="fresh", client="203.0.113.9", throttle=throttle)
    assert config.sign_in("bob", "b-pw", session="other", client="198.51.100.1",
                          throttle=throttle).name == "bob"


def test_an_unknown_name_costs_a_hash_verification_like_a_known_one(monkeypatch) -> None:
    import dashcore.access.auth as auth

    calls: list[int] = []
    real = auth.verify_password

    def counting(password: str, hashed: str) -> bool:
        calls.append(int(hashed.split("$")[1]))
        return real(password, hashed)

    monkeypatch.setattr(auth, "verify_password", counting)
    config = _config()
    throttle = SignInThrottle()
    for name in ("bob", "nobody-by-this-name"):
        with pytest.raises(PermissionDenied, match="Wrong user name or password"):
            config.sign_in(name, "wrong", throttle=throttle)
    assert calls == [FAST, FAST]  # same work: one verification of the same cost each


def test_a_locked_name_is_refused_before_any_hashing(monkeypatch) -> None:
    import dashcore.access.auth as auth

    throttle = SignInThrottle(free_failures=0, clock=FakeClock())
    throttle.failed([("name", "bob")])
    monkeypatch.setattr(auth, "verify_password", lambda *a: pytest.fail("hashed anyway"))
    with pytest.raises(SignInThrottled):
        _config().sign_in("bob", "b-pw", throttle=throttle)


def test_the_throttle_remembers_a_bounded_number_of_keys() -> None:
    throttle = SignInThrottle(max_keys=100, clock=FakeClock())
    for i in range(1000):
        throttle.failed([("name", f"user{i}")])
    assert len(throttle) == 100


def test_hashing_runs_one_at_a_time_and_a_flood_is_refused_with_a_sentence() -> None:
    import threading

    gate = HashGate(slots=1, queue=2, wait_s=30)
    release = threading.Event()
    inside = threading.Barrier(2)
    outcomes: list[str] = []

    def hold() -> None:
        with gate.slot():
            inside.wait()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait()  # one verification is running
    waiters = [threading.Thread(target=lambda: outcomes.append(_try(gate))) for _ in range(2)]
    for thread in waiters:
        thread.start()
    while gate._waiting < 2:  # both queued behind the running one
        threading.Event().wait(0.01)
    assert _try(gate) == "The server is busy checking other sign-ins: try again in a few seconds."
    release.set()
    for thread in (holder, *waiters):
        thread.join()
    assert outcomes == ["ok", "ok"] and gate.peak_running == 1


def _try(gate: HashGate) -> str:
    try:
        with gate.slot():
            return "ok"
    except PermissionDenied as exc:
        return str(exc)


# ---------------------------------------------------------------- OIDC allow-list


def _oidc(**extra) -> AccessConfig:
    return AccessConfig.from_mapping({"mode": "oidc", "admins": ["Alice@Example.org"], **extra})


def test_with_oidc_and_no_allow_list_only_admins_get_in() -> None:
    config = _oidc()
    assert config.admit("alice@example.org") is None
    assert config.oidc_user("alice@example.org").is_admin
    reason = config.admit("stranger@gmail.com")
    assert reason.startswith("This server has no allow-list yet, so only its admins can use it.")
    with pytest.raises(PermissionDenied, match="no allow-list yet"):
        config.oidc_user("stranger@gmail.com")


def test_the_oidc_allow_list_admits_listed_addresses_and_domains_only() -> None:
    config = _oidc(allowed_emails=["Bob@Partner.net"], allowed_domains=["@example.org"])
    assert config.admit("bob@partner.net") is None
    assert config.admit("carol@example.org") is None
    assert config.oidc_user("carol@example.org") == User("carol@example.org")
    for outsider in ("eve@gmail.com", "carol@example.org.evil.com", "bob@partner.net.evil"):
        assert config.admit(outsider).startswith(
            "Your account is not on this server's allow-list."), outsider
    assert "no e-mail address" in config.admit(None).replace("did not give an", "no")
    assert "not verified" in config.admit("carol@example.org", verified=False)


@pytest.mark.parametrize("raw, message", [
    ({"allowed_domains": "example.org"}, "must be a list of strings"),
    ({"allowed_domains": ["bob@example.org"]}, "is not a domain"),
    ({"allowed_emails": ["example.org"]}, "is not an e-mail address"),
])
def test_a_malformed_allow_list_is_explained(raw: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _oidc(**raw)
