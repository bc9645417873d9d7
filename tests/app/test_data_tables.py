"""/data with a CSV: columns described, a table imported and explored; a bad CSV refused."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from dashcore.datasets import catalog
from tests.helpers.datasets import houses_csv
from tests.helpers.pages import open_page


def choose_csv(app: AppTest, content: bytes, filename: str = "houses.csv") -> None:
    app.file_uploader(key="data_table_file").set_value((filename, content, "text/csv"))
    app.run()
    assert not app.exception, app.exception


def test_a_csv_is_described_imported_selected_and_explored() -> None:
    app = open_page("data")
    choose_csv(app, houses_csv())
    kinds = next(df.value for df in app.dataframe if df.value.columns[0] == "column")
    assert dict(zip(kinds["column"], kinds["kind"], strict=True)) == {
        "area": "number", "rooms": "number", "city": "category", "built": "date",
        "note": "text", "price": "number"}
    app.selectbox(key="data_table_target").set_value("price")
    next(b for b in app.button if b.label == "Import table").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="data_dataset").value == "upload:houses"
    assert any("Added 'houses'" in s.value and "regression" in s.value for s in app.success)
    figures = {c.key: json.loads(c.proto.spec) for c in app.get("plotly_chart")}
    assert {"data_table_target_chart", "data_table_against", "data_table_corr"} <= set(figures)
    assert "price" in figures["data_table_target_chart"]["layout"]["title"]["text"]


def test_a_csv_without_numbers_gets_a_sentence_and_nothing_is_added(settings) -> None:
    app = open_page("data")
    rows = b"".join(b"n%d,c%d\n" % (i, i % 3) for i in range(20))
    choose_csv(app, b"<b>name</b>,city\n" + rows, "words.csv")
    assert any("No column holds numbers" in e.value for e in app.error)
    assert all("<b>" not in e.value for e in app.error)  # the column name is escaped
    assert not any(b.label == "Import table" for b in app.button)
    assert catalog.list_datasets(settings) == ["MNIST", "Fashion-MNIST"]
