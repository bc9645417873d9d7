"""The "Export" panel of a model card on /models: SavedModel and TFLite, checked before offered.

Nothing is converted until its Prepare button is pressed; conversion runs in a separate
process (:func:`dashcore.models.export_formats.prepare`) under a spinner, and its file
and check are cached per model file, so the next visitor downloads at once.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from dashcore.access.auth import User, can
from dashcore.errors import UserError
from dashcore.models import export, export_formats
from dashcore.models.export_usage import phone_snippet, python_snippet
from dashcore.models.registry import ModelEntry
from dashcore.settings import Settings
from dashcore.system import human_bytes
from views.common.text import show_error


def _prepare(entry: ModelEntry, fmt: str, settings: Settings, user: User) -> None:
    label = export_formats.FORMATS[fmt][0]
    with st.spinner(f"Converting to {label} and checking it against the Keras model "
                    "(in a separate process, about 10–30 s)…"):
        try:
            export_formats.prepare(entry, fmt, settings, user=user)
        except UserError as exc:
            show_error(exc)


def _one_format(entry: ModelEntry, fmt: str, settings: Settings, user: User) -> None:
    label, suffix = export_formats.FORMATS[fmt]
    key = f"{fmt}-{entry.model_id}"
    check = export_formats.cached(entry, fmt, settings)
    st.markdown(f"**{label}**")
    if check is None:
        missing = export_formats.needs_tensorflow(fmt)
        if missing:  # files made before, where TensorFlow was, stay downloadable
            st.caption(missing)
            return
        if not can(user, "export"):
            st.caption(f"Not prepared yet. Sign in to prepare the {label} file; exports "
                       "someone has prepared can be downloaded by everyone.")
            return
        if st.button(f"Prepare {label}", key=f"prepare-{key}", icon=":material/build:"):
            _prepare(entry, fmt, settings, user)
            check = export_formats.cached(entry, fmt, settings)
    if check is None:
        return
    if not check.ok:
        st.warning(check.sentence())
        return
    file_name = export.download_name(entry, suffix)
    st.download_button(f"{suffix.lstrip('.')} · {human_bytes(check.size_bytes)}",
                       data=partial(export_formats.export_bytes, entry, fmt, settings),
                       file_name=file_name, mime="application/octet-stream",
                       key=f"dl-{key}", on_click="ignore", icon=":material/download:")
    st.caption(check.sentence())
    st.markdown("Use it in Python:")
    st.code(python_snippet(fmt, file_name, entry.card), language="python")
    if fmt != "savedmodel":
        st.markdown("Use it on a phone (Android, Kotlin):")
        st.code(phone_snippet(file_name, entry.card), language="kotlin")


def export_panel(entry: ModelEntry, settings: Settings, user: User) -> None:
    """An expander with one block per export format of ``entry``; Prepare buttons only for
    people who may start an export."""
    with st.expander("Export: SavedModel, TFLite"):
        st.caption("Each file is made when you ask for it and checked before it is offered: "
                   f"run on {export_formats.PARITY_IMAGES} test images it must give the Keras "
                   "model's answer on every one (the quantised TFLite file: its measured test "
                   "accuracy is shown).")
        for fmt in export_formats.FORMATS:
            with st.container(border=True, key=f"export-{fmt}-{entry.model_id}"):
                _one_format(entry, fmt, settings, user)
