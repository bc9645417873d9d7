"""Slowing down password guessing: per-name, per-session and per-address backoff, and a
bound on how many password hashes the server computes at once.

A wrong password is free a few times; after that each further failure on the same key
(a user name, a browser session, a client address) locks that key for twice as long as
the last one, up to a ceiling, and the refusal says how long to wait. Unknown names are
keyed like known ones, so the answer never tells which names exist.

The counts live in a :class:`FailureBook`. The server's pages use the run store's database
(:mod:`dashcore.store.sign_ins`), so a restart does not clear them and every replica behind a
proxy sees the same counts; :class:`MemoryBook` (one process, the default for scripts and
tests) keeps them in a dictionary. Either is bounded: a key with no failure for
``forget_s`` is dropped, and the least recently failed keys go first past ``max_keys``.

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
from typing import Protocol

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


Key = tuple[str, str]


@dataclass
class FailureRecord:
    """One key's wrong passwords: how many, locked until when, the last one's time."""

    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


Change = Callable[[dict[Key, FailureRecord]], dict[Key, FailureRecord | None]]


class FailureBook(Protocol):
    """Where failure counts are kept; every change is atomic across its readers."""

    def read(self, keys: Sequence[Key]) -> dict[Key, FailureRecord]:
        """The records of those keys that have one."""

    def change(self, keys: Sequence[Key], change: Change, forget_before: float,
               max_keys: int) -> None:
        """Atomically: read the keys' records, apply ``change`` (new records; None drops
        one), and forget keys whose last failure is before ``forget_before`` and the
        least recently failed past ``max_keys``."""

    def clear(self) -> None:
        """Forget everything (tests)."""


class MemoryBook:
    """A :class:`FailureBook` in this process's memory, guarded by a lock."""

    def __init__(self) -> None:
        self._records: OrderedDict[Key, FailureRecord] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def read(self, keys: Sequence[Key]) -> dict[Key, FailureRecord]:
        with self._lock:
            return {key: FailureRecord(**vars(self._records[key])) for key in keys
                    if key in self._records}

    def change(self, keys: Sequence[Key], change: Change, forget_before: float,
               max_keys: int) -> None:
        with self._lock:
            current = {key: self._records[key] for key in keys if key in self._records}
            for key, record in change(current).items():
                if record is None:
                    self._records.pop(key, None)
                else:
                    self._records[key] = record
                    self._records.move_to_end(key)
            for key in [k for k, r in self._records.items() if r.last_failure < forget_before]:
                del self._records[key]
            while len(self._records) > max_keys:
                self._records.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


def _wait_text(seconds: float) -> str:
    """'40 s' under two minutes, else '3 min' (rounded up)."""
    seconds = max(1, int(seconds + 0.999))
    return f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} min"


class SignInThrottle:
    """Failure counts per key with exponential lock-outs, kept in a :class:`FailureBook`.

    Keys are ``(kind, value)`` pairs, ``kind`` one of :data:`WHAT`. Defaults to a
    :class:`MemoryBook` and the monotonic clock; a shared book needs the wall clock.

    Example:
        >>> throttle = SignInThrottle(free_failures=1, first_wait_s=40, clock=lambda: 0.0)
        >>> throttle.failed([("name", "bob")])
        >>> throttle.check([("name", "bob")])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        SignInThrottled: Too many wrong passwords for this user name: try again in 40 s.
    """

    def __init__(self, free_failures: int = FREE_FAILURES, first_wait_s: float = FIRST_WAIT_S,
                 max_wait_s: float = MAX_WAIT_S, forget_s: float = FORGET_S,
                 max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic,
                 book: FailureBook | None = None) -> None:
        self.free_failures = free_failures
        self.first_wait_s = first_wait_s
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self.clock = clock
        self.book: FailureBook = MemoryBook() if book is None else book

    def __len__(self) -> int:
        return len(self.book)  # type: ignore[arg-type]

    def check(self, keys: Sequence[Key]) -> None:
        """Raise :class:`SignInThrottled` (the longest wait) when any key is locked now."""
        now = self.clock()
        records = self.book.read(keys)
        waits = [(record.locked_until - now, kind) for (kind, _value), record in
                 ((key, records[key]) for key in keys if key in records)
                 if now - record.last_failure <= self.forget_s and record.locked_until > now]
        if waits:  # the longest wait; on a tie the first key (the name) is the one named
            wait, kind = max(waits, key=lambda item: round(item[0]))
            raise SignInThrottled(f"Too many wrong passwords {WHAT.get(kind, '')}: try again "
                                  f"in {_wait_text(wait)}.", wait)

    def failed(self, keys: Sequence[Key]) -> None:
        """Count one wrong password against every key; lock those past the free ones."""
        now = self.clock()

        def count(current: dict[Key, FailureRecord]) -> dict[Key, FailureRecord | None]:
            changed: dict[Key, FailureRecord | None] = {}
            for key in keys:
                record = current.get(key)
                if record is None or now - record.last_failure > self.forget_s:
                    record = FailureRecord()
                record.failures += 1
                record.last_failure = now
                over = record.failures - self.free_failures
                if over > 0:
                    wait = min(self.max_wait_s, self.first_wait_s * 2 ** min(over - 1, 30))
                    record.locked_until = now + wait
                changed[key] = record
            return changed

        self.book.change(keys, count, now - self.forget_s, self.max_keys)

    def succeeded(self, keys: Sequence[Key]) -> None:
        """Forget the failures on these keys (the right password was given)."""
        self.book.change(keys, lambda current: dict.fromkeys(keys), self.clock() - self.forget_s,
                         self.max_keys)

    def clear(self) -> None:
        """Forget everything (tests)."""
        self.book.clear()


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
        keys.append(("session", str(session)[:200]))
    if client:
        keys.append(("client", str(client)[:200]))
    return keys
