"""The router's first check: the server's ``DASHCORE_*`` settings, before any page runs."""

from __future__ import annotations

import streamlit as st

from dashcore.settings import Settings, SettingsError, get_settings
from views.common.text import literal


def settings_or_stop() -> Settings:
    """The server's settings; a wrong ``DASHCORE_*`` value stops every page with a sentence
    per wrong value (variable, value, what is allowed, the default), so the person running
    the server sees what to fix instead of a traceback on some later page."""
    try:
        return get_settings()
    except SettingsError as exc:
        st.title("This server's settings need fixing")
        for problem in exc.problems:
            st.error(literal(problem))
        st.caption("Change the environment of the server (e.g. its systemd unit or shell), "
                   "then restart it.")
        st.stop()
        raise  # st.stop() raises; this only tells type checkers nothing returns here
