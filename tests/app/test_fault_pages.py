"""Faults as a person meets them on /train: a damaged run row, a damaged run store file.

The core's behaviour is in tests/unit/test_faults.py; here only what the page shows.
"""

from __future__ import annotations

import sqlite3

from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers.pages import open_page


def test_a_run_whose_stored_row_is_damaged_is_listed_with_a_sentence_and_the_page_works(settings):
    store = open_store(settings)
    store.create_run(RunRecord(run_id="r-good", name="good run", status=COMPLETED,
                               config=TrainConfig().to_dict(), created=1.0))
    store.create_run(RunRecord(run_id="r-bad", name="damaged run", status=FAILED,
                               config=TrainConfig().to_dict(), created=2.0))
    conn = sqlite3.connect(get_settings().store_path)
    with conn:
        conn.execute("UPDATE runs SET config = '{\"batch', progress = '[' "
                     "WHERE run_id = 'r-bad'")
    conn.close()

    at = open_page("train")
    shown = " ".join(e.value for e in [*at.error, *at.warning, *at.markdown])
    assert "stored record is damaged (its config and progress could not be read)" in shown
    assert len(at.dataframe) >= 1 and len(at.dataframe[0].value) == 2  # both in the history


def test_a_run_store_file_that_is_not_a_database_gives_a_sentence_not_a_traceback(
        monkeypatch):
    from dashcore.store import factory

    path = get_settings().store_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database, just damaged bytes " * 100)
    monkeypatch.setattr(factory, "_stores", {})
    at = open_page("train")
    assert any("is damaged (file is not a database)" in e.value and "Move the file aside"
               in e.value for e in at.error)
