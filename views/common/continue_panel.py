"""/train's "Continue this run" box and the form's "Start from" (fine-tune) fields.

Continuing goes on from the run's last whole-epoch checkpoint, optimizer state included,
as the same run (its chart goes on) or as a new run that names its parent.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashcore.access.auth import User, can
from dashcore.errors import UserError
from dashcore.jobs import resume
from dashcore.models import registry
from dashcore.settings import Settings
from dashcore.store.runs import FINAL, RunRecord
from views.common.text import literal

SAME, NEW = "this run", "a new run"
MESSAGE = "continue_message"  # (kind, text) shown once in the box after pressing Continue
FRESH = ""  # "Start from" value meaning fresh weights


def _continue(run: RunRecord, settings: Settings, user: User, watch_key: str) -> None:
    """Button callback: runs before the page, so it may point the watched run elsewhere."""
    more = st.session_state.get(f"continue_more_{run.run_id}", 1)
    as_new = st.session_state.get(f"continue_how_{run.run_id}") == NEW
    try:
        target = resume.continue_run(run.run_id, int(more), as_new=as_new, settings=settings,
                                     user=user)
    except UserError as exc:
        st.session_state[MESSAGE] = ("error", str(exc))
        return
    st.session_state[watch_key] = target.run_id
    st.session_state[MESSAGE] = ("success", f"“{target.name}” is {target.status}: "
                                            f"{more} more epoch(s) from epoch "
                                            f"{target.config['epochs'] - int(more)}.")


def continue_panel(run: RunRecord, settings: Settings, user: User, watch_key: str) -> None:
    """For a finished run: continue it for N more epochs, as itself or as a new run."""
    message = st.session_state.pop(MESSAGE, None)
    if message:
        (st.success if message[0] == "success" else st.error)(literal(message[1]))
    if run.status not in FINAL or not can(user, "train"):
        return
    state = resume.checkpoint_of(run, settings)
    if state is None:
        st.caption("This run saved no whole epoch, so it cannot be continued: train it again "
                   "from the form.")
        return
    mine = can(user, "manage", owner=run.owner)
    with st.container(border=True, key="continue_box"):
        st.markdown(f"**Continue this run** from epoch {state.epoch}, its last whole epoch "
                    "(weights, optimizer state and shuffling go on as if it had not stopped).")
        left, middle, right = st.columns([1, 2, 1], vertical_alignment="bottom")
        left.number_input("More epochs", min_value=1, value=1, step=1,
                          key=f"continue_more_{run.run_id}")
        middle.radio("Continue as", [SAME, NEW] if mine else [NEW], horizontal=True,
                     key=f"continue_how_{run.run_id}",
                     help="This run: its chart and model card go on. A new run: starts from "
                          "a copy of this run's checkpoint and names this run as its parent.")
        right.button("Continue", key="continue_button", icon=":material/play_arrow:",
                     on_click=_continue, args=(run, settings, user, watch_key))


def start_from_fields(column: Any, settings: Settings) -> tuple[str | None, int]:
    """The form's fine-tune fields: a saved model to start from, and layers left trainable."""
    try:
        entries = [e for e in registry.list_models(settings) if e.error is None]
    except (UserError, OSError):
        entries = []
    names = {e.model_id: e.name for e in entries}
    start = column.selectbox(
        "Start from", [FRESH, *names], key="train_start_from",
        format_func=lambda mid: "fresh weights" if mid == FRESH else f"saved model: {names[mid]}",
        help="Fine-tune a saved model on this dataset instead of training from scratch: its "
             "input size and number of classes must match the dataset's.")
    trainable = column.number_input(
        "Train only the last N layers (0 = all)", min_value=0, value=0, step=1,
        key="train_trainable_last",
        help="When starting from a saved model: freeze every layer with weights except the "
             "last N (keeps what it learned; needs less data).")
    return (start or None), int(trainable)
