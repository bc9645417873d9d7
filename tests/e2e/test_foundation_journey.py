"""Browser journeys over the foundation: look at the data, then choose an architecture."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers.harness import wait_for_app

pytestmark = pytest.mark.e2e
SLOW = 90_000  # ms; the first model summary imports TensorFlow on a shared 2-core box


def total_params(page):
    """The "Total params" metric on /architecture."""
    return page.get_by_test_id("stMetric").filter(has_text="Total params")


def pick_start(page, name: str) -> None:
    page.get_by_test_id("stRadio").get_by_text(name, exact=True).click()
    wait_for_app(page)


def test_a_newcomer_sees_sample_digits_then_picks_the_cnn_and_sees_34826_parameters(
        app_url: str, page) -> None:
    page.goto(f"{app_url}/data")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    charts = page.locator('[data-testid="stPlotlyChart"], [data-testid="stImage"]')
    expect(charts.first).to_be_visible(timeout=SLOW)

    page.goto(f"{app_url}/architecture")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Architecture", exact=True)).to_be_visible()
    pick_start(page, "CNN 32-64")
    expect(total_params(page)).to_contain_text("34,826", timeout=SLOW)
    expect(page.get_by_test_id("stTable")).to_contain_text("(None, 26, 26, 32)")
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()


def test_a_downloaded_architecture_loads_back_after_switching_away(
        app_url: str, page, tmp_path: Path) -> None:
    page.goto(f"{app_url}/architecture")
    wait_for_app(page)
    pick_start(page, "CNN 32-64")
    expect(total_params(page)).to_contain_text("34,826", timeout=SLOW)
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    saved = tmp_path / "cnn.json"
    download.value.save_as(saved)

    pick_start(page, "MLP 2×512")
    expect(total_params(page)).to_contain_text("669,706", timeout=SLOW)
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    expect(uploader).to_have_count(1, timeout=SLOW)  # the rerun's stale copy has gone
    uploader.set_input_files(str(saved))
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Loaded “CNN 32-64”", timeout=SLOW)
    expect(total_params(page)).to_contain_text("34,826", timeout=SLOW)
