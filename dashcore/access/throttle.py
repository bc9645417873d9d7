"""Slowing down password guessing: per-name, per-session and per-address backoff, and a
bound on how many password hashes the server computes at once.

A wrong password is free a few times; after that each further failure on the same key
(a user name, a browser session, a client address) locks that key for twice as long as
the last one, up to a ceiling, and the refusal says how long to wait. Unknown names are
keyed like known ones, so the answer never tells which names exist.

The state is module-level and shared by every session of the server process (Streamlit
runs all sessions in one process), guarded by a lock, and bounded: the least recently
failed keys are forgotten first, and a key with no failure for ``forget_s`` is dropped.

Hashing is bounded too: at most ``HASH_SLOTS`` PBKDF2 verifications run at once in the
server, and at most ``HASH_QUEUE`` more wait for a slot; anyone beyond that is asked to
try again in a moment, so a flood of sign-ins cannot take every core.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from dashcore.errors import PermissionDenied

FREE_FAILURES = 5  # wrong passwords per key before any waiting
FIRST_WAIT_S = 5.0  # the first lock after the free failures, in seconds; doubles each time
MAX_WAIT_S = 900.0  # the longest lock (15 minutes)
FORGET_S = 3600.0  # a key with no failure for this long starts afresh
MAX_KEYS = 10_000  # keys remembered at most (least recently failed forgotten first)
HASH_SLOTS = 1  # PBKDF2 verifications running at once per server (each takes ~1 core)
HASH_QUEUE = 8  # sign-ins allowed to wait for a slot; more are refused with a sentence
HASH_WAIT_S = 10.0  # longest a sign-in waits for a slot before being told to retry

# How each kind of key is named in the refusal sentence.
WHAT = {"name": "for this user name", "session": "from this browser tab",
        "client": "from your network address"}


class SignInThrottled(PermissionDenied):
    """Too many wrong passwords on one key; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


def _wait_text(seconds: float) -> str:
    """'40 s' under two minutes, else '3 min' (rounded up)."""
    seconds = max(1, int(seconds + 0.999))
    return f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} min"


class SignInThrottle:
    """Failure counts per key with exponential lock-outs; thread-safe and bounded.

    Keys are ``(kind, value)`` pairs, ``kind`` one of :data:`WHAT`.

    Example:
        >>> throttle = SignInThrottle(free_failures=1, first_wait_s=40, clock=lambda: 0.0)
        >>> throttle.failed([("name", "bob")])
        >>> throttle.check([("name", "bob")])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        SignInThrottled: Too many wrong passwords for this user name: try again in 40 s.
    """

    def __init__(self, free_failures: int = FREE_FAILURES, first_wait_s: float = FIRST_WAIT_S,
                 max_wait_s: float = MAX_WAIT_S, forget_s: float = FORGET_S,
                 max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.first_wait_s = first_wait_s
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self.clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def _get(self, key: tuple[str, str], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last_failure > self.forget_s:
            del self._records[key]
            return None
        return record

    def check(self, keys: Sequence[tuple[str, str]]) -> None:
        """Raise :class:`SignInThrottled` (the longest wait) when any key is locked now."""
        now = self.clock()
        with self._lock:
            waits = [(record.locked_until - now, kind) for kind, value in keys
                     if (record := self._get((kind, value), now)) is not None
                     and record.locked_until > now]
        if waits:  # the longest wait; on a tie the first key (the name) is the one named
            wait, kind = max(waits, key=lambda item: round(item[0]))
            raise SignInThrottled(f"Too many wrong passwords {WHAT.get(kind, '')}: try again "
                                  f"in {_wait_text(wait)}.", wait)

    def failed(self, keys: Sequence[tuple[str, str]]) -> None:
        """Count one wrong password against every key; lock those past the free ones."""
        now = self.clock()
        with self._lock:
            for key in keys:
                record = self._get(key, now) or _Record()
                record.failures += 1
                record.last_failure = now
                over = record.failures - self.free_failures
                if over > 0:
                    wait = min(self.max_wait_s, self.first_wait_s * 2 ** min(over - 1, 30))
                    record.locked_until = now + wait
                self._records[key] = record
                self._records.move_to_end(key)
            while len(self._records) > self.max_keys:
                self._records.popitem(last=False)

    def succeeded(self, keys: Sequence[tuple[str, str]]) -> None:
        """Forget the failures on these keys (the right password was given)."""
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._records.clear()


class HashGate:
    """At most ``slots`` hash verifications at once, at most ``queue`` waiting."""

    def __init__(self, slots: int = HASH_SLOTS, queue: int = HASH_QUEUE,
                 wait_s: float = HASH_WAIT_S) -> None:
        self.slots = slots
        self.queue = queue
        self.wait_s = wait_s
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0
        self.peak_running = 0  # the most verifications seen running at once
        self._running = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one hashing slot; refuse with a sentence when too many wait already."""
        with self._lock:
            if self._waiting >= self.queue:
                raise PermissionDenied("The server is busy checking other sign-ins: try again "
                                       "in a few seconds.")
            self._waiting += 1
        try:
            acquired = self._semaphore.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise PermissionDenied("The server is busy checking other sign-ins: try again in "
                                   "a few seconds.")
        with self._lock:
            self._running += 1
            self.peak_running = max(self.peak_running, self._running)
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
            self._semaphore.release()


THROTTLE = SignInThrottle()  # shared by every session of this server process
HASH_GATE = HashGate()  # shared by every session of this server process


def sign_in_keys(name: str, session: str | None = None,
                 client: str | None = None) -> list[tuple[str, str]]:
    """The keys one attempt counts against: the name (case-folded), session, address."""
    keys = [("name", name.strip().casefold()[:200])]
    if session:
        keys.append(("session", session))
    if client:
        keys.append(("client", client))
    return keys
