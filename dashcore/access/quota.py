"""Disk quota per person: what one signed-in user's things take, and the check before more.

Counted per owner by each store of bytes (models, datasets, drawings, runs: the list is
``dashcore.access.stores``), which the quota asks through :class:`ByteCounter` and does not
import, since the stores call :func:`check_quota` before they write. The limit is
``DASHCORE_USER_DISK_MB``; a refusal says how much the person uses, of how much, and what
to delete. Things without an owner (made with access off,
or by scripts) count against nobody, and trusted callers (no user) are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dashcore.access.auth import User
from dashcore.errors import UserError
from dashcore.settings import Settings, limit_setting
from dashcore.system import human_bytes


class ByteCounter(Protocol):
    """How one store of bytes counts what an owner keeps in it."""

    def __call__(self, owner: str, settings: Settings) -> int:
        """Bytes ``owner``'s things take in this store now (0 for none)."""


# kind ("models", "datasets", …) → its store's counter, in the order the line shows them.
# Filled once by an entry point (dashcore.access.stores.count_every_store): the stores call
# check_quota, so the quota cannot import them.
_counters: dict[str, ByteCounter] = {}


def count_with(counters: dict[str, ByteCounter]) -> None:
    """Tell the quota which stores hold a person's bytes and how each counts them."""
    _counters.update(counters)


@dataclass(frozen=True)
class DiskUse:
    """Bytes one owner's things take, by kind, and the quota they count against."""

    owner: str
    by_kind: dict[str, int]
    limit: int

    @property
    def total(self) -> int:
        """All of it together."""
        return sum(self.by_kind.values())

    def line(self) -> str:
        """"You use 1.2 MB of 2.0 GB (models …, datasets …, drawings …, runs …)." """
        parts = ", ".join(f"{kind} {human_bytes(size)}" for kind, size in self.by_kind.items())
        return f"You use {human_bytes(self.total)} of {human_bytes(self.limit)} ({parts})."


def disk_use(owner: str, settings: Settings) -> DiskUse:
    """What ``owner``'s things take on disk now, asked of every store of bytes.

    Raises:
        RuntimeError: no store was registered (an entry point that did not call
            ``dashcore.access.stores.count_every_store``): counting nothing would let
            anyone past the quota.
    """
    if not _counters:
        raise RuntimeError("The disk quota knows no store of bytes: the entry point must call "
                           "dashcore.access.stores.count_every_store() first.")
    return DiskUse(owner, {kind: count(owner, settings) for kind, count in _counters.items()},
                   settings.limits.user_disk_mb * 1024 * 1024)


def check_quota(user: User | None, settings: Settings, adding: int = 0,
                what: str = "this") -> DiskUse | None:
    """Refuse when ``user``'s things plus ``adding`` bytes would pass their disk quota.

    ``adding`` 0 (a run about to be queued, whose size is not known yet) refuses only when
    the quota is already used up. Returns the use, or None for a trusted caller.

    Raises:
        UserError: over the quota, saying how much is used of how much, and the fix.
    """
    if user is None or not user.name:
        return None
    use = disk_use(user.name, settings)
    if use.total + adding <= use.limit and (adding or use.total < use.limit):
        return use
    fix = ("Delete models, datasets, drawings or runs of yours you no longer need. "
           f"{limit_setting('user_disk_mb')}")
    if adding:
        raise UserError(f"You use {human_bytes(use.total)} of your {human_bytes(use.limit)} "
                        f"disk quota, and {what} ({human_bytes(adding)}) would take you over "
                        f"it. {fix}")
    raise UserError(f"You use {human_bytes(use.total)} of your {human_bytes(use.limit)} disk "
                    f"quota, so {what} cannot be started: it needs room for its checkpoints, "
                    f"logs and model. {fix}")
