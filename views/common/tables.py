"""/data's glue for tables: the CSV import form and what a table dataset shows.

Thin: reads widgets, calls :mod:`dashcore.tables`, lays out what comes back. Column names,
category values and file names are the uploader's: shown through ``literal`` (Markdown)
or in dataframes and Plotly figures built with ``plain`` (dashcore.charts.tables).
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath

import streamlit as st

from dashcore.access.auth import User
from dashcore.charts import tables as charts
from dashcore.datasets.base import Dataset
from dashcore.errors import UserError
from dashcore.settings import Settings
from dashcore.tables import columns as kinds
from dashcore.tables.encoding import MISSING_RULES
from dashcore.tables.importing import TableOptions, TablePreview, import_table, inspect_csv
from views.common.access import allowed
from views.common.text import literal, show_error

PREVIEW_KEY = "data_table_preview"  # (file digest, preview) of the chosen CSV
AUTO = "auto"


def _preview(data: bytes, settings: Settings) -> TablePreview:
    """The chosen CSV read and described once per file (kept in the session)."""
    digest = hashlib.sha256(data).hexdigest()
    held = st.session_state.get(PREVIEW_KEY)
    if held and held[0] == digest:
        return held[1]
    preview = inspect_csv(data, settings.limits)
    st.session_state[PREVIEW_KEY] = (digest, preview)
    return preview


def table_import_form(user: User | None, settings: Settings) -> tuple[str, str] | None:
    """The "Add a table (CSV)" form; returns (dataset name, success sentence) once added."""
    limits = settings.limits
    with st.expander("Add a table (.csv)", expanded=False):
        if not allowed("upload", user=user):
            return None
        st.markdown(
            "A CSV with a header line naming the columns (comma, semicolon or tab between "
            "values; a `.zip` or `.gz` of one works too). Pick the column to predict: numbers "
            "make a regression, two values a binary classification, a few values a "
            f"multi-class one. Up to {limits.upload_mb} MB, {limits.table_rows:,} rows and "
            f"{limits.table_columns:,} columns.")
        upload = st.file_uploader("CSV file", type=["csv", "tsv", "txt", "zip", "gz"],
                                  key="data_table_file", max_upload_size=limits.upload_mb)
        if upload is None:
            return None
        data = upload.getvalue()
        try:
            preview = _preview(data, settings)
        except UserError as error:
            show_error(error)
            return None
        st.caption(f"{len(preview.frame):,} rows, {len(preview.columns)} columns. Text and "
                   "date columns are not used as features.")
        st.dataframe(preview.table(), hide_index=True, key="data_table_columns")
        names = [c.name for c in preview.columns]
        usable = [c.name for c in preview.columns if c.kind in kinds.USABLE]
        with st.form("data_table_form"):
            name = st.text_input("Name", key="data_table_name", max_chars=60,
                                 placeholder="e.g. houses (defaults to the file name)")
            target_col, task_col = st.columns(2)
            target = target_col.selectbox("Target column (what to predict)", usable or names,
                                          index=len(usable or names) - 1,
                                          key="data_table_target")
            task = task_col.selectbox(
                "Task", [AUTO, *kinds.TASKS], key="data_table_task",
                format_func=lambda t: "follow the target column" if t == AUTO
                else kinds.TASKS[t])
            share_col, seed_col, missing_col = st.columns(3)
            share = share_col.slider("Test share", 0.05, 0.5, 0.2, 0.05, key="data_table_share",
                                     help="Share of the rows kept for testing.")
            seed = seed_col.number_input("Split seed", 0, 2**31 - 1, 42, key="data_table_seed",
                                         help="The same seed always gives the same split.")
            missing = missing_col.radio("Missing values", list(MISSING_RULES),
                                        key="data_table_missing",
                                        format_func=lambda r: MISSING_RULES[r].split(":")[0])
            submitted = st.form_submit_button("Import table", key="data_table_submit")
        if not submitted:
            return None
        chosen = name.strip() or PurePath(upload.name).stem.split(".")[0]
        options = TableOptions(target=str(target), task=None if task == AUTO else str(task),
                               test_fraction=float(share), seed=int(seed), missing=str(missing))
        try:
            with st.spinner("Splitting, encoding and storing the table…"):
                dataset = import_table(chosen, data, options, settings, user=user)
        except UserError as error:
            show_error(error)
            return None
    st.session_state.pop(PREVIEW_KEY, None)
    table = dataset.table
    return dataset.name, (
        f"Added {chosen!r}: {len(dataset.x_train):,} training and {len(dataset.x_test):,} test "
        f"rows, target {table.target!r} ({kinds.TASKS[table.task].lower()}), "
        f"{dataset.x_train.shape[1]} model inputs.")


def show_table(dataset: Dataset) -> None:
    """A table dataset on /data: its columns, what was done to them, and charts."""
    table = dataset.table
    st.subheader("At a glance")
    st.markdown(f"Target **{literal(table.target)}** · {kinds.TASKS[table.task]} · "
                f"{len(dataset.x_train):,} training rows, {len(dataset.x_test):,} test rows · "
                f"{dataset.x_train.shape[1]} model inputs")
    st.dataframe([c.to_dict() for c in table.columns], hide_index=True, key="data_table_kinds",
                 column_config={"name": "column", "kind": "kind", "missing": "missing",
                                "distinct": "distinct values", "note": "note"})
    st.subheader("What was done to the rows and columns")
    for note in table.notes:
        st.markdown(f"- {literal(note)}")
    frame = table.raw_train
    used = [c for c in table.columns if c.kind in kinds.USABLE]
    st.subheader("Columns")
    target_info = next(c for c in table.columns if c.name == table.target)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.column_figure(frame[table.target], target_info.kind,
                                             table.target), key="data_table_target_chart",
                        width="stretch")
    with right:
        chosen = st.selectbox("Column", [c.name for c in used], key="data_table_column")
        info = next(c for c in used if c.name == chosen)
        st.plotly_chart(charts.column_figure(frame[chosen], info.kind, chosen),
                        key="data_table_column_chart", width="stretch")
    features = [c for c in used if c.name != table.target]
    if features:
        st.subheader("Target against a feature")
        feature = st.selectbox("Feature", [c.name for c in features], key="data_table_feature")
        kind = next(c.kind for c in features if c.name == feature)
        st.plotly_chart(charts.target_against_figure(
            frame, feature, kind, table.target, table.task == kinds.REGRESSION),
            key="data_table_against", width="stretch")
    numeric = [c.name for c in used if c.kind == kinds.NUMBER]
    if len(numeric) >= 2:
        st.subheader("Correlations")
        st.plotly_chart(charts.correlation_figure(frame, numeric), key="data_table_corr",
                        width="stretch")
    st.subheader("Training rows as uploaded")
    st.dataframe(frame.head(50), hide_index=True, key="data_table_rows")
