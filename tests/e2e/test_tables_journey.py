"""Browser journeys with tables: a CSV of numbers and categories → a regression trained →
its scatter and R² on /evaluate → a prediction from /predict's form; a binary CSV → a ROC
curve and a threshold that changes the confusion matrix; bad CSVs get a sentence and
nothing is stored."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.datasets import churn_csv, houses_csv
from tests.helpers.harness import wait_for_app
from tests.helpers.journeys import choose, train_until_completed

pytestmark = pytest.mark.e2e


def import_csv(page, app_url: str, data: bytes, file_name: str, target: str) -> None:
    """/data: choose the CSV, see its columns, pick the target, import it."""
    page.goto(f"{app_url}/data")
    wait_for_app(page)
    page.get_by_test_id("stExpander").filter(has_text="Add a table").locator("summary").click()
    page.locator(".st-key-data_table_file input[type=file]").set_input_files(
        files=[{"name": file_name, "mimeType": "text/csv", "buffer": data}])
    expect(page.locator(".st-key-data_table_target")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    box = page.get_by_role("combobox", name="Target column (what to predict)")
    if box.input_value() != target:  # the last usable column is already chosen
        choose(page, "data_table_target", re.compile(f"^{target}$"))
    expect(box).to_have_value(target)
    page.get_by_role("button", name="Import table").click()
    expect(page.get_by_text(f"target '{target}'", exact=False)).to_be_visible(timeout=60_000)


def test_a_regression_from_a_csv_to_r2_and_a_prediction(app_url, app_store, page,
                                                         no_stray_workers) -> None:
    import_csv(page, app_url, houses_csv(200), "houses.csv", "price")
    expect(page.get_by_text("Regression (predict a number)", exact=False).first).to_be_visible()
    train_until_completed(page, app_url, app_store, "upload:houses", "houses run",
                          epochs=40, batch=16)

    page.goto(f"{app_url}/evaluate")
    wait_for_app(page)
    choose(page, "eval_model", re.compile("^houses run"))
    expect(page.get_by_text("R²", exact=True).first).to_be_visible(timeout=60_000)
    r2 = page.get_by_test_id("stMetric").filter(has_text="R²").get_by_test_id("stMetricValue")
    assert float(r2.inner_text()) > 0.8
    expect(page.locator(".st-key-eval_table_scatter")).to_be_visible()
    expect(page.locator("text=Rows with the largest errors")).to_be_visible()

    page.goto(f"{app_url}/predict")
    wait_for_app(page)
    area = page.get_by_role("spinbutton", name="area")
    expect(area).to_be_visible(timeout=60_000)
    area.fill("150")
    page.get_by_role("spinbutton", name="rooms").fill("3")
    page.get_by_role("button", name="Predict", exact=True).click()
    answer = page.locator(".st-key-predict_answer")
    expect(answer).to_contain_text("Predicted price:", timeout=60_000)
    price = float(answer.inner_text().split("Predicted price:")[1].split()[0].replace(",", ""))
    assert 300_000 < price < 700_000  # 150 m², 3 rooms: 480,000 in Lyon or Nice


def test_a_binary_csv_has_a_roc_curve_and_a_moved_threshold_changes_the_matrix(
        app_url, app_store, page, no_stray_workers) -> None:
    import_csv(page, app_url, churn_csv(200), "churn.csv", "churned")
    train_until_completed(page, app_url, app_store, "upload:churn", "churn run",
                          epochs=15, batch=16)
    page.goto(f"{app_url}/evaluate")
    wait_for_app(page)
    choose(page, "eval_model", re.compile("^churn run"))
    roc = page.locator(".st-key-eval_table_roc")
    expect(roc.locator("text=/ROC curve \\(AUC/")).to_be_visible(timeout=60_000)
    matrix = page.locator(".st-key-eval_table_matrix")
    expect(matrix.locator("text=At threshold 0.50")).to_be_visible()
    recall = page.get_by_test_id("stMetric").filter(has_text="Recall")
    before = recall.get_by_test_id("stMetricValue").inner_text()
    thumb = page.get_by_role("slider").first  # the page's one slider: the threshold
    thumb.focus()
    thumb.press("End")  # the strictest threshold, 0.99
    expect(matrix.locator("text=At threshold 0.99")).to_be_visible(timeout=30_000)
    expect(recall.get_by_test_id("stMetricValue")).not_to_have_text(before, timeout=30_000)


def test_bad_csvs_get_a_sentence_and_nothing_is_stored(app_url, app_home, page) -> None:
    page.goto(f"{app_url}/data")
    wait_for_app(page)
    page.get_by_test_id("stExpander").filter(has_text="Add a table").locator("summary").click()
    wide = b",".join(b"c%d" % i for i in range(50_000)) + b"\n" + b",".join([b"1"] * 50_000)
    words = b"name,city\n" + b"".join(b"n%d,c%d\n" % (i, i % 3) for i in range(20))
    before = sorted(p.name for p in (app_home / "datasets").glob("*")) \
        if (app_home / "datasets").exists() else []
    for data, sentence in ((wide, "The header names 50,000 columns"),
                           (words, "No column holds numbers"),
                           (b"a,b\n1,2\n", "The CSV has 1 data row")):
        page.locator(".st-key-data_table_file input[type=file]").set_input_files(
            files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": data}])
        expect(page.get_by_text(sentence, exact=False)).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Import table")).to_have_count(0)
    after = sorted(p.name for p in (app_home / "datasets").glob("*")) \
        if (app_home / "datasets").exists() else []
    assert after == before
