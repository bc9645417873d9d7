"""Browser-test fixtures: the real app on a free port, driven by Debian's Chromium.

One server per test session with its own temporary DASHCORE_HOME, stopped by its
process group at the end. Tests are skipped (not failed) only where Chromium is absent;
`.ci/run` installs it, so CI always runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop_app


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
        stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, tmp_path: Path):
    """A fresh browser tab; on failure a screenshot is left in the test's tmp folder."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    try:
        tab.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    finally:
        context.close()
