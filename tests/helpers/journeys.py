"""Browser steps shared by the journeys: drawing on the canvas, moving between pages, and the
train-watch-leave-return-stop journey (run on the local backend and on Ray)."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from dashcore.store.runs import RunRecord, RunStore
from tests.helpers.harness import wait_for_app

SLOW = 120_000  # ms; the worker imports TensorFlow on a shared 2-core box
CHART_POINTS = """() => {
    const plot = document.querySelector('.st-key-live_chart .js-plotly-plot');
    return plot && plot.data ? plot.data[0].x.length : 0;
}"""


CURVE = """() => {
    const plot = document.querySelector('.st-key-live_chart .js-plotly-plot');
    if (!plot || !plot.data) return null;
    return {batch: plot.data[0].x, epochs: plot.data[1].x};
}"""


def fill(page, key: str, value: str) -> None:
    """Type ``value`` into the input of the widget keyed ``key`` and leave the field."""
    field = page.locator(f".st-key-{key} input")
    field.fill(value)
    field.press("Tab")


def choose(page, key: str, option: str | re.Pattern) -> None:
    """Pick ``option`` in the selectbox keyed ``key`` and wait for the page's rerun."""
    page.locator(f".st-key-{key} input").click()
    page.get_by_role("option", name=option).first.click()
    wait_for_app(page)


def wait_for_epochs_on_chart(page, at_least: int, timeout: int = SLOW * 2) -> None:
    """Wait until the live chart shows ``at_least`` whole-epoch points."""
    page.wait_for_function(f"() => {{ const c = ({CURVE})(); "
                           f"return c && c.epochs.length >= {at_least}; }}", timeout=timeout)


def stop_then_continue_one_epoch(page, store) -> tuple[str, int]:
    """Stop the run training on /train once its first epoch is on the chart, continue it as
    the same run for one more epoch and wait until it completes, checking that the curve
    holds every epoch; returns (run id, whole epochs done when it stopped)."""
    status = page.locator(".st-key-run_status")
    wait_for_epochs_on_chart(page, 1)
    page.locator(".st-key-stop_button").get_by_role("button", name="Stop", exact=True).click()
    expect(status.filter(has_text="stopped").first).to_be_visible(timeout=SLOW)
    run = store.list_runs()[-1]
    whole = max(p["epoch"] for p in store.epoch_points(run.run_id) if not p.get("partial"))
    box = page.locator(".st-key-continue_box")
    expect(box).to_contain_text(f"from epoch {whole}", timeout=SLOW)
    box.get_by_role("button", name="Continue", exact=True).first.click()
    expect(status.filter(has_text="completed").first).to_be_visible(timeout=SLOW * 3)
    # The status and the chart are separate elements: the chart may redraw a moment later.
    wait_for_epochs_on_chart(page, whole + 1)
    epochs = page.evaluate(CURVE)["epochs"]
    assert epochs == list(range(1, whole + 2)), epochs  # no epoch missing or repeated
    return run.run_id, whole


def batch_points_on_screen(page) -> int:
    """How many per-batch points the live loss chart is drawing."""
    return page.evaluate(CHART_POINTS)


def wait_for_more_points(page, than: int) -> int:
    page.wait_for_function(f"() => ({CHART_POINTS})() > {than}", timeout=SLOW)
    return batch_points_on_screen(page)


def press_train(page, store: RunStore, queued_within_s: float = 60) -> RunRecord:
    """Press /train's Train button and return the run it queued (read from ``store``).

    A press that lands while the page is still redrawing can be lost: the page then shows
    neither a run nor an error (once in CI, on a loaded box). A person presses again, and
    so does this, once; a press that shows an error fails with its text at once.
    """
    before = {run.run_id for run in store.list_runs()}
    errors = page.get_by_test_id("stAlertContentError")
    for _ in range(2):
        wait_for_app(page)
        page.get_by_role("button", name="Train", exact=True).click()
        deadline = time.monotonic() + queued_within_s
        while time.monotonic() < deadline:
            new = [run for run in store.list_runs() if run.run_id not in before]
            if new:
                return new[0]
            if errors.count():
                raise AssertionError(f"Train was refused: {errors.all_inner_texts()}")
            time.sleep(0.5)
    raise AssertionError(f"two presses of Train queued no run within {queued_within_s:.0f} s "
                         "each, and the page showed no error")


def train_until_completed(page, app_url: str, store: RunStore, dataset: str, run_name: str,
                          epochs: int, batch: int, timeout_s: float = 240) -> RunRecord:
    """/train: Dense 64 on ``dataset`` as ``run_name``; waits until the run completed (a
    run that ends otherwise fails with its summary) and the live panel says so."""
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    expect(page.locator(".st-key-train_dataset")).to_be_visible(timeout=timeout_s * 1000)
    choose(page, "train_arch", re.compile("^Dense 64$"))
    page.locator(".st-key-train_dataset input").click()
    page.get_by_role("option", name=dataset, exact=True).click()
    for key, value in (("train_epochs", str(epochs)), ("train_batch", str(batch))):
        fill(page, key, value)
    page.get_by_test_id("stExpander").filter(has_text="More").locator("summary").click()
    fill(page, "train_name", run_name)
    run = press_train(page, store)
    assert run.name == run_name
    deadline = time.monotonic() + timeout_s
    while run.active and time.monotonic() < deadline:
        time.sleep(1)
        run = store.get_run(run.run_id)
    assert run.status == "completed", (run.status, run.summary)
    # The live panel notices within its one-second refresh (during a redraw the old and new
    # panel can both be in the page for a moment).
    expect(page.locator(".st-key-run_status").filter(has_text="completed").first
           ).to_be_visible(timeout=60_000)
    return run


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=SLOW)
    wait_for_app(page)



def train_watch_leave_return_and_stop(page, app_url: str, store: RunStore) -> None:
    """The journey itself (also run against Ray + PostgreSQL + S3 in tests/scaleout);
    ``store`` is the server's run store."""
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=SLOW)
    page.locator(".st-key-train_arch input").click()
    page.get_by_role("option", name="Dense 64", exact=True).click()
    for key, value in (("train_epochs", "100"), ("train_batch", "32")):
        fill(page, key, value)
    press_train(page, store)

    status = page.locator(".st-key-run_status")
    expect(status.filter(has_text="running").first).to_be_visible(timeout=SLOW)
    seen = wait_for_more_points(page, 0)
    seen = wait_for_more_points(page, seen)  # the chart gains points while we watch

    go_to(page, "Data")
    go_to(page, "Train")
    expect(status.filter(has_text="running").first).to_be_visible(timeout=SLOW)
    back = wait_for_more_points(page, 0)
    assert back >= seen  # the history is complete from the first batch
    wait_for_more_points(page, back)  # and it is still progressing

    page.locator(".st-key-stop_button").get_by_role("button", name="Stop", exact=True).click()
    expect(status.filter(has_text="stopped").first).to_be_visible(timeout=SLOW)
    expect(status.filter(has_text="Stopped on request").first).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()


def drawing_surface(page):
    """The canvas that takes the pen: Fabric's top canvas (the last one in the component).

    streamlit-drawable-canvas 0.13 is a components-v2 element rendered in the page (older
    versions used an iframe: look inside frames too, so the test survives either).
    """
    for _ in range(60):
        for frame in page.frames:
            canvases = frame.locator("canvas")
            if canvases.count():
                return canvases.last
        page.wait_for_timeout(500)
    raise AssertionError("no <canvas> appeared on /draw within 30 s")


def draw_stroke(page, canvas, points: list[tuple[float, float]]) -> None:
    """Press, move through ``points`` (fractions of the canvas), release: one stroke."""
    box = canvas.bounding_box()
    assert box, "the canvas is not visible"
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()

