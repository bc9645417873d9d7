"""Browser journey on /train: start a run, watch the chart grow, leave for /data and come
back to find it still training, stop it, and see it marked stopped."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashcore.jobs.local import worker_alive
from dashcore.store.runs import WORKING
from dashcore.store.sqlite import SQLiteRunStore
from tests.e2e.harness import wait_for_app

pytestmark = pytest.mark.e2e
SLOW = 120_000  # ms; the worker imports TensorFlow on a shared 2-core box
CHART_POINTS = """() => {
    const plot = document.querySelector('.st-key-live_chart .js-plotly-plot');
    return plot && plot.data ? plot.data[0].x.length : 0;
}"""


def batch_points_on_screen(page) -> int:
    """How many per-batch points the live loss chart is drawing."""
    return page.evaluate(CHART_POINTS)


def wait_for_more_points(page, than: int) -> int:
    page.wait_for_function(f"() => ({CHART_POINTS})() > {than}", timeout=SLOW)
    return batch_points_on_screen(page)


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=SLOW)
    wait_for_app(page)


@pytest.fixture
def no_stray_workers(app_home: Path):
    """Workers are detached from the server, so stopping the server does not end them."""
    yield
    store = SQLiteRunStore(app_home / "runs.sqlite3")
    for run in store.list_runs(WORKING):
        if run.pid and worker_alive(run)[0]:
            os.kill(run.pid, signal.SIGKILL)


def test_a_run_keeps_training_while_the_user_looks_elsewhere_and_stops_on_request(
        app_url: str, page, no_stray_workers) -> None:
    train_watch_leave_return_and_stop(page, app_url)


def train_watch_leave_return_and_stop(page, app_url: str) -> None:
    """The journey itself (also run against Ray + PostgreSQL + S3 in tests/scaleout)."""
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=SLOW)
    page.locator(".st-key-train_arch input").click()
    page.get_by_role("option", name="Dense 64", exact=True).click()
    for key, value in (("train_epochs", "100"), ("train_batch", "32")):
        field = page.locator(f".st-key-{key} input")
        field.fill(value)
        field.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_for_app(page)

    status = page.locator(".st-key-run_status")
    expect(status).to_contain_text("running", timeout=SLOW)
    seen = wait_for_more_points(page, 0)
    seen = wait_for_more_points(page, seen)  # the chart gains points while we watch

    go_to(page, "Data")
    go_to(page, "Train")
    expect(status).to_contain_text("running", timeout=SLOW)
    back = wait_for_more_points(page, 0)
    assert back >= seen  # the history is complete from the first batch
    wait_for_more_points(page, back)  # and it is still progressing

    page.locator(".st-key-stop_button").get_by_role("button", name="Stop", exact=True).click()
    expect(status).to_contain_text("stopped", timeout=SLOW)
    expect(status).to_contain_text("Stopped on request")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
