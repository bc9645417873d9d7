"""Sign-in failure counts live in the run store's database: a restart keeps them, and two
servers on one database count the same failures."""

from __future__ import annotations

import pytest

from dashcore.access.auth import AccessConfig, hash_password
from dashcore.access.throttle import FREE_FAILURES, SignInThrottle, SignInThrottled
from dashcore.errors import PermissionDenied
from dashcore.settings import get_settings
from dashcore.store.sign_ins import StoreBook, shared_throttle
from dashcore.store.sql import SQLAlchemyRunStore


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _server(clock: FakeClock) -> SignInThrottle:
    """One server process's throttle: its own engine on the shared database."""
    store = SQLAlchemyRunStore(get_settings().db_url)
    return SignInThrottle(clock=clock, book=StoreBook(store))


_CONFIG = None


def _config() -> AccessConfig:
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = AccessConfig.from_mapping(
            {"mode": "password", "passwords": {"ann": hash_password("right one")}})
    return _CONFIG


def _guess(throttle: SignInThrottle, times: int, client: str = "198.51.100.7") -> None:
    for _ in range(times):
        with pytest.raises(PermissionDenied, match="Wrong user name or password"):
            _config().sign_in("ann", "wrong", client=client, throttle=throttle)


def test_a_restarted_server_still_remembers_the_failures() -> None:
    clock = FakeClock()
    _guess(_server(clock), FREE_FAILURES + 1)
    restarted = _server(clock)  # a new process: nothing in memory
    with pytest.raises(SignInThrottled, match="for this user name: try again in 5 s"):
        _config().sign_in("ann", "right one", throttle=restarted)


def test_replicas_on_one_database_share_the_counts() -> None:
    clock = FakeClock()
    first, second = _server(clock), _server(clock)
    _guess(first, FREE_FAILURES - 1, client="203.0.113.1")
    _guess(second, 2, client="203.0.113.2")  # the name's 5th and 6th failure, elsewhere
    with pytest.raises(SignInThrottled, match="for this user name"):
        _config().sign_in("ann", "right one", throttle=first)
    clock.now += 6  # the lock passes; the right password clears the name everywhere
    assert _config().sign_in("ann", "right one", throttle=first).name == "ann"
    assert StoreBook(SQLAlchemyRunStore(get_settings().db_url)).read([("name", "ann")]) == {}


def test_old_failures_are_forgotten_and_the_table_stays_bounded() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(clock=clock, max_keys=20, forget_s=100,
                              book=StoreBook(SQLAlchemyRunStore(get_settings().db_url)))
    for i in range(50):
        clock.now += 1
        throttle.failed([("name", f"user{i}")])
    assert len(throttle) == 20
    assert throttle.book.read([("name", "user49")])
    assert not throttle.book.read([("name", "user0")])
    clock.now += 200
    throttle.failed([("name", "late")])
    assert len(throttle) == 1


def test_the_pages_throttle_is_kept_in_the_run_store() -> None:
    settings = get_settings()
    throttle = shared_throttle(settings)
    throttle.failed([("name", "bob")])
    assert StoreBook(SQLAlchemyRunStore(settings.db_url)).read([("name", "bob")])
    assert shared_throttle(settings) is throttle
