"""An admin's panel for clearing one person's drawings from the shared "Your drawings" set.

Thin: the owners and counts, and the deletion, come from dashcore (which checks the admin
again); names are people's text, shown literally.
"""

from __future__ import annotations

import streamlit as st

from dashcore.access.auth import User, can
from dashcore.datasets import drawings
from dashcore.errors import UserError
from dashcore.settings import Settings
from views.common.text import literal, show_error


def clear_drawings_panel(user: User, settings: Settings) -> None:
    """For admins: pick a person, clear everything they saved to "Your drawings"."""
    if not can(user, "admin"):
        return
    owners = drawings.owners_of_drawings(settings)
    if not owners:
        return
    with st.expander("Admin: clear one person's drawings"):
        owner = st.selectbox("Person", list(owners), key="data_clear_owner",
                             format_func=lambda o: f"{literal(o)} ({owners[o]:,} drawings)")
        if st.button("Delete all their drawings", key="data_clear_go", type="primary"):
            try:
                removed = drawings.delete_drawings_of(str(owner), settings, user=user)
            except UserError as error:
                show_error(error)
                return
            st.success(literal(f"Deleted {removed:,} drawings of {owner!r}."))
