"""Shared fixtures: every test gets its own empty DASHCORE_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashcore.access.stores import count_every_store
from dashcore.settings import Settings, get_settings
from tests.helpers.harness import CHROMIUM, CHROMIUM_ARGS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

count_every_store()  # as the router and the worker do: the disk quota asks every store


@pytest.fixture(autouse=True)
def _fresh_sign_in_throttle() -> None:
    """Sign-in failures are remembered server-wide: each test starts with none."""
    from dashcore.access.throttle import THROTTLE

    THROTTLE.clear()


@pytest.fixture(autouse=True)
def dashcore_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the workbench's data folder at a fresh temporary directory."""
    home = tmp_path / "dashcore_home"
    monkeypatch.setenv("DASHCORE_HOME", str(home))
    # No warm spare workers unless a test asks for them (tests/unit/test_spares.py): each
    # one imports TensorFlow and holds ~0.9 GB until it is used or retires.
    monkeypatch.setenv("DASHCORE_SPARES", "0")
    return home


@pytest.fixture
def settings(dashcore_home: Path) -> Settings:
    """The workbench's settings for this test's data folder, read once as an entry point
    would; a test that changes DASHCORE_* part-way reads them again after the change."""
    return get_settings()


# One Chromium for the whole session, shared by tests/e2e and tests/scaleout: two sync
# Playwright instances cannot run in one process at once.
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


def pytest_sessionstart(session: pytest.Session) -> None:
    """CI's JAX pass (DASHCORE_NO_TENSORFLOW=1) proves the path needs no TensorFlow: it
    refuses to start where TensorFlow is installed."""
    import importlib.util

    if os.environ.get("DASHCORE_NO_TENSORFLOW") == "1" and importlib.util.find_spec(
            "tensorflow") is not None:
        raise pytest.UsageError("DASHCORE_NO_TENSORFLOW=1 but TensorFlow is installed here: "
                                "this pass must run in an environment without it.")
