"""Browser journey on /sweep: start a 3-trial sweep of a tiny model, watch the trials fill
in and the optimisation-history chart gain points, then open the best trial on /evaluate."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.harness import wait_for_app
from tests.helpers.journeys import SLOW

pytestmark = pytest.mark.e2e
SWEEP = 400_000  # ms: three workers, each importing TensorFlow on a shared 2-core box
HISTORY_POINTS = """() => {
    const plot = document.querySelector('.st-key-sweep_chart_optimisation_history .js-plotly-plot');
    return plot && plot.data ? plot.data[0].x.length : 0;
}"""


def fill(page, key: str, value: str) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(value)
    field.press("Tab")
    wait_for_app(page)


def test_a_sweep_fills_its_trials_table_and_opens_its_best_model_on_evaluate(
        app_url: str, page, no_stray_workers) -> None:
    page.goto(f"{app_url}/sweep")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Sweep", exact=True)).to_be_visible(timeout=SLOW)
    page.locator(".st-key-sweep_arch input").click()
    page.get_by_role("option", name="Dense 64", exact=True).click()
    wait_for_app(page)
    page.locator(".st-key-sweep_vary_lr label").click()
    wait_for_app(page)
    fill(page, "sweep_trials", "3")
    fill(page, "sweep_base_epochs", "1")
    fill(page, "sweep_images", "300")
    expect(page.get_by_text(re.compile(r"trains up to 3 runs \(3 epochs in all, 300 training"
                                       ))).to_be_visible()
    page.get_by_role("button", name="Start sweep").click()
    wait_for_app(page)

    status = page.locator(".st-key-sweep_status")
    expect(status).to_contain_text("Running: 1 of 3 trials started", timeout=SLOW)
    page.wait_for_function(f"() => ({HISTORY_POINTS})() >= 1", timeout=SWEEP)
    page.wait_for_function(f"() => ({HISTORY_POINTS})() >= 2", timeout=SWEEP)  # it updates
    # the median pruner may stop the third trial after its epoch: finished either way
    expect(status).to_contain_text(re.compile(r"Finished: 3 of 3 trials started \(\d "
                                              r"completed"), timeout=SWEEP)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()

    page.get_by_role("link", name="Open on /evaluate").click()
    expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible(timeout=SLOW)
    expect(page).to_have_url(re.compile(r"/evaluate\?model="))
    chosen = page.url.split("model=")[1]
    expect(page.get_by_role("combobox", name="Model")).to_have_value(
        re.compile(re.escape("Dense 64 sweep · trial ") + r"\d\s+\(" + re.escape(chosen)),
        timeout=SLOW)
    expect(page.get_by_text("Mistakes", exact=True)).to_be_visible(timeout=SLOW)
