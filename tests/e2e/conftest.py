"""Browser-test fixtures: the real app on a free port (the browser and its tabs are the
suite-wide fixtures in ``tests/conftest.py``, shared with the scale-out journey).

One server per test session with its own temporary DASHCORE_HOME, stopped at the end
with the warm spare workers it started. Tests are skipped (not failed) only where
Chromium is absent; `.ci/run` installs it, so CI always runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashcore.store.sqlite import SQLiteRunStore
from tests.helpers.harness import free_port, start_app, stop_app
from tests.helpers.jobs import kill_stray_workers


@pytest.fixture(scope="session")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of the browser-test server."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    home.mkdir()
    return home


@pytest.fixture(scope="session")
def app_url(app_home: Path) -> Iterator[str]:
    """Base URL of a running app for the whole browser-test session."""
    port = free_port()
    proc = start_app(app_home, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_app(proc, app_home)


@pytest.fixture(scope="session")
def app_store(app_home: Path) -> SQLiteRunStore:
    """The browser-test server's run store, read as the tests' ground truth."""
    return SQLiteRunStore(app_home / "runs.sqlite3")


@pytest.fixture
def no_stray_workers(app_home: Path):
    """Workers are detached from the server, so stopping the server does not end them."""
    yield
    kill_stray_workers(app_home)
