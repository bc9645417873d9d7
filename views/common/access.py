"""Streamlit-side glue shared by the pages: who is signed in, and errors as sentences.

The rules live in ``dashcore.access.auth``; this module only reads Streamlit secrets and
session state and renders the sign-in form, so pages stay thin.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from streamlit.errors import StreamlitAuthError

from dashcore.access.auth import AccessConfig, User, why_not
from dashcore.errors import UserError
from dashcore.settings import Settings
from dashcore.store.sign_ins import shared_throttle
from views.common.text import literal, show_error

T = TypeVar("T")


def access_config() -> AccessConfig:
    """The ``[workbench]`` secrets table, parsed (access off when there are no secrets)."""
    try:
        raw = dict(st.secrets.get("workbench", {}))
    except (FileNotFoundError, KeyError, ValueError, OSError):
        raw = {}
    except Exception:  # noqa: BLE001 - a missing/invalid secrets.toml means "not configured"
        raw = {}
    return AccessConfig.from_mapping(raw)


def _oidc_refusal(config: AccessConfig) -> str | None:
    """Why the identity signed in through the provider may not use this server, or None."""
    if not getattr(st.user, "is_logged_in", False):
        return None
    return config.admit(st.user.get("email"), st.user.get("email_verified"))


def current_user() -> User:
    """The user of this session (a visitor when nobody is signed in, or not admitted)."""
    config = access_config()
    if config.mode == "oidc":
        if not getattr(st.user, "is_logged_in", False) or _oidc_refusal(config):
            return config.user(None)
        return config.oidc_user(st.user.get("email"), st.user.get("email_verified"))
    return config.user(st.session_state.get("signed_in_as"))


def sign_in_gate(pages: list[Any], settings: Settings) -> Any:
    """Resolve the page, then ask for sign-in when access is on; returns the page to run.

    The page is resolved first so that a deep link such as /models is where the person
    lands once signed in; the navigation stays hidden until then. Visitors may browse
    (read-only) when the access settings allow it.
    """
    try:
        config = access_config()
    except UserError as exc:
        st.navigation(pages, position="hidden")
        show_error(f"The access settings are wrong: {exc}")
        st.stop()
    refusal = _oidc_refusal(config) if config.mode == "oidc" else None
    if refusal:
        st.navigation(pages, position="hidden")
        st.title("Not admitted")
        show_error(refusal)
        if st.button("Sign out", key="sign_out"):
            st.logout()
        st.stop()
    user = current_user()
    locked = config.enabled and not user.name and not config.visitors
    page = st.navigation(pages, position="hidden" if locked else "sidebar")
    if not config.enabled:
        if config.demo:
            st.sidebar.info("Demo mode: you can draw and explore; training and uploads are off.")
        return page
    with st.sidebar:
        if user.name:
            st.caption(f"Signed in as **{literal(user.name)}**"
                       + (" (admin)" if user.is_admin else ""))
            if st.button("Sign out", key="sign_out"):
                if config.mode == "oidc":
                    st.logout()
                st.session_state.pop("signed_in_as", None)
                st.rerun()
            return page
    if not locked:
        with st.sidebar.expander("Sign in", expanded=False):
            _sign_in_form(config, settings)
        return page
    st.title("Sign in")
    st.write("This workbench is shared: sign in to use it.")
    _sign_in_form(config, settings)
    st.stop()


def _sign_in_form(config: AccessConfig, settings: Settings) -> None:
    if config.mode == "oidc":
        if st.button("Sign in with your identity provider", key="oidc_login"):
            try:
                st.login()
            except StreamlitAuthError as exc:  # no Authlib, or no [auth] secrets
                show_error(f"Sign-in through the identity provider is not set up on this "
                           f"server ({exc}). See the README's Access section.")
        return
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        if st.form_submit_button("Sign in", key="sign_in_submit"):
            try:
                user = config.sign_in(name, password, session=_session_token(),
                                      client=st.context.ip_address,
                                      throttle=shared_throttle(settings))
            except UserError as exc:
                show_error(exc)
            else:
                st.session_state["signed_in_as"] = user.name
                st.rerun()


def _session_token() -> str:
    """A random id for this browser session, so failures count against the session too."""
    return st.session_state.setdefault("sign_in_session", secrets.token_hex(8))


def allowed(action: str, owner: str | None = None, what: str = "this",
            user: User | None = None) -> bool:
    """True if the user may act; otherwise shows the sentence saying why, returns False.

    Pages put the control behind this; dashcore checks again when it is used.
    """
    reason = why_not(user or current_user(), action, owner, what)
    if reason is None:
        return True
    st.info(literal(reason))
    return False


def run_or_error(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call a dashcore function; show a :class:`UserError` as ``st.error`` and return None."""
    try:
        return action(*args, **kwargs)
    except UserError as exc:
        show_error(exc)
        return None
