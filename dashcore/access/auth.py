"""Who may do what: access configuration, password hashing, and permission checks.

Access is off by default (one person on their own machine: everything allowed). For a
shared server it is configured in Streamlit secrets (``[workbench]`` table), read by the
pages and passed here as a plain dict, so this module stays free of Streamlit:

.. code-block:: toml

    [workbench]
    mode = "password"        # "off" (default), "password" or "oidc" (st.login)
    admins = ["alice"]        # may stop any run, rename or delete any model
    visitors = true           # people not signed in may draw and explore (read-only)
    demo = false              # true: read-only for everyone but admins
    allowed_emails = ["bob@example.org"]  # mode "oidc": who besides admins may sign in
    allowed_domains = ["example.org"]     # mode "oidc": whole e-mail domains let in

    [workbench.passwords]     # user = hash from `python -m dashcore.access.auth hash`
    alice = "pbkdf2_sha256$600000$…$…"

Passwords are stored only as salted PBKDF2-SHA256 hashes and compared in constant time;
sign-in is throttled (see :mod:`dashcore.access.throttle`).
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dashcore.access.throttle import (
    HASH_GATE,
    THROTTLE,
    HashGate,
    SignInThrottle,
    sign_in_keys,
)
from dashcore.errors import PermissionDenied, UserError
from dashcore.text import check_name

PBKDF2_ITERATIONS = 600_000  # OWASP 2023 figure for PBKDF2-HMAC-SHA256
MODES = ("off", "password", "oidc")
MAX_USER_NAME = 254  # characters in a user name or an admin's e-mail address (RFC 5321)
# Actions a page may ask about; visitors and demo users get only the read-only ones.
READ_ONLY_ACTIONS = frozenset({"view", "draw", "evaluate"})
WRITE_ACTIONS = frozenset({"train", "upload", "save_drawing", "export"})


def hash_password(password: str, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """A self-describing salted hash: ``pbkdf2_sha256$<iterations>$<salt>$<digest>``."""
    if not password:
        raise UserError("A password cannot be empty.")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    encode = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches a hash from :func:`hash_password`; never raises."""
    try:
        scheme, iterations, salt, digest = hashed.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"),
                                     base64.urlsafe_b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def _string_list(raw: Mapping[str, Any], key: str) -> list[str]:
    """A list of strings from the settings (case-folded, blanks dropped); else UserError."""
    value = raw.get(key, [])
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise UserError(f"workbench.{key} must be a list of strings, e.g. {key} = [\"…\"].")
    return [str(v).strip().casefold() for v in value if str(v).strip()]


def _iterations(hashed: str) -> int:
    """The round count written in a hash (the default when it cannot be read)."""
    try:
        return int(hashed.split("$")[1])
    except (IndexError, ValueError):
        return PBKDF2_ITERATIONS


@functools.lru_cache(maxsize=8)
def _dummy_hash(iterations: int) -> str:
    """A hash of a random password nobody knows, made once per round count."""
    return hash_password(secrets.token_urlsafe(16), iterations=iterations)


@dataclass(frozen=True)
class User:
    """The person behind a session. ``name`` is None for an anonymous visitor."""

    name: str | None
    is_admin: bool = False
    read_only: bool = False
    demo: bool = False  # read-only because the workbench is a demo (not for want of sign-in)

    @property
    def label(self) -> str:
        """How the UI names this user."""
        return self.name or "visitor"


LOCAL_USER = User(name=None, is_admin=True)  # access off: the machine's owner can do anything


@dataclass(frozen=True)
class AccessConfig:
    """Parsed ``[workbench]`` secrets. Defaults to access off."""

    mode: str = "off"
    admins: frozenset[str] = frozenset()
    visitors: bool = False
    demo: bool = False
    passwords: Mapping[str, str] = field(default_factory=dict)
    allowed_emails: frozenset[str] = frozenset()  # OIDC: addresses let in (lower case)
    allowed_domains: frozenset[str] = frozenset()  # OIDC: e-mail domains let in (lower case)

    @property
    def enabled(self) -> bool:
        """True when people must sign in to do more than look."""
        return self.mode != "off"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> AccessConfig:
        """Parse the ``[workbench]`` table; unknown or malformed values raise UserError."""
        raw = dict(raw or {})
        mode = str(raw.get("mode", "off")).lower()
        if mode not in MODES:
            raise UserError(f"workbench.mode is {mode!r}; use one of {', '.join(MODES)}.")
        passwords = {check_name("user", str(k), MAX_USER_NAME): str(v)
                     for k, v in dict(raw.get("passwords") or {}).items()}
        if mode == "password" and not passwords:
            raise UserError("workbench.mode is 'password' but [workbench.passwords] is empty: "
                            "add users with hashes from `python -m dashcore.access.auth hash`.")
        bad = [user for user, hashed in passwords.items()
               if not hashed.startswith("pbkdf2_sha256$")]
        if bad:
            raise UserError(f"Password entries for {', '.join(bad)} are not hashes: store the "
                            "output of `python -m dashcore.access.auth hash`, never plain "
                            "passwords.")
        emails = _string_list(raw, "allowed_emails")
        domains = [d.lstrip("@") for d in _string_list(raw, "allowed_domains")]
        bad = [d for d in domains if not d or "@" in d or "." not in d]
        if bad:
            raise UserError(f"workbench.allowed_domains has {bad[0]!r}, which is not a domain: "
                            "write domains such as \"example.org\" (no user part).")
        bad = [e for e in emails if e.count("@") != 1 or e.startswith("@")]
        if bad:
            raise UserError(f"workbench.allowed_emails has {bad[0]!r}, which is not an e-mail "
                            "address: write whole addresses such as \"bob@example.org\", or "
                            "put domains in allowed_domains.")
        admins = frozenset(check_name("user", str(a), MAX_USER_NAME)
                           for a in raw.get("admins", []))
        return cls(mode=mode, admins=admins,
                   visitors=bool(raw.get("visitors", False)), demo=bool(raw.get("demo", False)),
                   passwords=passwords, allowed_emails=frozenset(emails),
                   allowed_domains=frozenset(domains))

    def admit(self, email: str | None, verified: bool | None = None) -> str | None:
        """Why an identity the OIDC provider vouched for may *not* use this server, or None.

        Admins always get in. Everyone else needs an e-mail address the provider has not
        marked unverified, on ``allowed_emails`` or in one of ``allowed_domains``. With no
        allow-list at all only admins get in: a provider such as Google authenticates
        anyone with an account, which is not the same as being welcome here.
        """
        address = (email or "").strip().casefold()
        if address and address in {a.casefold() for a in self.admins}:
            return None
        if not address or "@" not in address:
            return ("Your identity provider did not give an e-mail address, and this server "
                    "admits people by e-mail address. Sign in with an account that has one.")
        if verified is False:
            return ("Your identity provider has not verified this e-mail address, so this "
                    "server cannot admit you by it. Verify it with the provider, then sign in "
                    "again.")
        if not self.allowed_emails and not self.allowed_domains:
            return ("This server has no allow-list yet, so only its admins can use it. Ask an "
                    "admin to add your address to allowed_emails (or your domain to "
                    "allowed_domains) in the [workbench] settings.")
        domain = address.rsplit("@", 1)[1]
        if address in self.allowed_emails or domain in self.allowed_domains:
            return None
        return ("Your account is not on this server's allow-list. Ask an admin to add your "
                "address to allowed_emails (or your domain to allowed_domains) in the "
                "[workbench] settings.")

    def oidc_user(self, email: str | None, verified: bool | None = None) -> User:
        """The :class:`User` for an OIDC identity; :class:`PermissionDenied` if not admitted."""
        reason = self.admit(email, verified)
        if reason is not None:
            raise PermissionDenied(reason)
        address = str(email).strip()
        admin = next((a for a in self.admins if a.casefold() == address.casefold()), None)
        return self.user(admin or address)

    def sign_in(self, name: str, password: str, session: str | None = None,
                client: str | None = None, throttle: SignInThrottle | None = None,
                gate: HashGate | None = None) -> User:
        """Check a password-list login, slowed down against guessing.

        Unknown names and wrong passwords get the same sentence *and the same work*: an
        unknown name is verified against a dummy hash of the same cost, so neither the
        answer nor its timing tells which names exist. Each failure counts against the
        name, the browser session and the client address (see
        :mod:`dashcore.access.throttle`); a locked key is refused before any hashing, with
        a sentence saying when to retry. Hashing waits for one of the server's few slots.

        Raises:
            SignInThrottled: too many recent failures on the name, session or address.
            PermissionDenied: a wrong name or password, or a server too busy hashing.
        """
        throttle = THROTTLE if throttle is None else throttle
        gate = HASH_GATE if gate is None else gate
        keys = sign_in_keys(name, session, client)
        throttle.check(keys)
        hashed = self.passwords.get(name.strip())
        with gate.slot():
            ok = verify_password(password, hashed or self._dummy_hash())
        if hashed is None or not ok:
            throttle.failed(keys)
            raise PermissionDenied("Wrong user name or password.")
        throttle.succeeded(keys[:1])
        return self.user(name.strip())

    def _dummy_hash(self) -> str:
        """A hash as costly as this server's real ones, for names that do not exist."""
        rounds = sorted(_iterations(h) for h in self.passwords.values()) or [PBKDF2_ITERATIONS]
        return _dummy_hash(rounds[len(rounds) // 2])

    def user(self, name: str | None) -> User:
        """The :class:`User` for a signed-in name (or None for a visitor)."""
        if not self.enabled:
            return User(name=name, is_admin=not self.demo, read_only=self.demo, demo=self.demo)
        if name is None:
            return User(name=None, read_only=True, demo=self.demo)
        is_admin = name in self.admins
        demo = self.demo and not is_admin
        return User(name=name, is_admin=is_admin, read_only=demo, demo=demo)


def can(user: User, action: str, owner: str | None = None) -> bool:
    """Whether ``user`` may do ``action``.

    Actions: read-only ones (``view``, ``draw``, ``evaluate``) for everyone; ``train``,
    ``upload``, ``save_drawing``, ``export`` (converting a model, seconds of CPU and disk) for
    anyone signed in and not read-only; ``manage`` (stop a
    run, rename or delete a model) for its owner or an admin; ``admin`` (the default model
    for everyone) for admins only.
    """
    if action in READ_ONLY_ACTIONS:
        return True
    if user.read_only:
        return False
    if action == "manage":
        return user.is_admin or (owner is not None and owner == user.name)
    if action == "admin":
        return user.is_admin
    return action in WRITE_ACTIONS


def require(user: User, action: str, owner: str | None = None, what: str = "this") -> None:
    """Raise :class:`PermissionDenied` with a sentence when ``user`` may not act."""
    if can(user, action, owner):
        return
    if user.read_only and user.demo:
        raise PermissionDenied("This is a read-only demo: you can draw and explore, but not "
                               "train, upload or change things.")
    if user.read_only:
        raise PermissionDenied("This workbench is read-only for visitors: you can draw and "
                               "explore, but not train, upload or change things. Sign in to "
                               "do more.")
    if action == "admin":
        raise PermissionDenied(f"Only an admin can change {what}.")
    if action == "manage" and owner is None:
        raise PermissionDenied(f"Only an admin can change {what}: it has no recorded owner.")
    raise PermissionDenied(f"Only {owner or 'its owner'} or an admin can change {what}.")


def why_not(user: User, action: str, owner: str | None = None,
            what: str = "this") -> str | None:
    """The sentence :func:`require` would raise, or None when ``user`` may act.

    Pages show it in place of a control the user may not use.
    """
    try:
        require(user, action, owner, what)
    except PermissionDenied as exc:
        return str(exc)
    return None


def authorize(user: User | None, action: str, owner: str | None = None,
              what: str = "this") -> None:
    """:func:`require` for dashcore's write functions; ``None`` is a trusted caller.

    Pages pass the signed-in :class:`User`, so a hidden button is never the only guard;
    scripts, the worker and tests pass nothing (they run as the machine's owner).
    """
    if user is not None:
        require(user, action, owner, what)


def main(argv: list[str] | None = None) -> int:
    """``python -m dashcore.access.auth hash``: print a hash to paste into secrets."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["hash"]:
        print("usage: python -m dashcore.access.auth hash   (asks for the password twice)")
        return 2
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        print("The two passwords differ.", file=sys.stderr)
        return 1
    print(hash_password(first))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
