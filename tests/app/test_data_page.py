"""/data through the router: what a user sees on MNIST, reshuffling, Fashion offline, uploads."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashcore.datasets import base, catalog
from tests.helpers.pages import open_page

CHART_KEYS = ["data_samples", "data_counts", "data_histogram", "data_means", "data_pca"]


@pytest.fixture
def app() -> AppTest:
    """The app opened on /data (MNIST is selected by default)."""
    return open_page("data")


def charts(app: AppTest) -> dict[str, dict]:
    """Each Plotly chart on the page, by its key, as the JSON the browser receives."""
    return {chart.key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}


def table(app: AppTest, first_column: str) -> dict[str, list]:
    """The dataframe whose first column is ``first_column``, as lists (AppTest has no keys)."""
    frame = next(df.value for df in app.dataframe if df.value.columns[0] == first_column)
    return {column: frame[column].tolist() for column in frame.columns}


def upload(app: AppTest, content: bytes, name: str = "", filename: str = "mine.npz") -> None:
    """Fill in the upload form and press "Validate and add"."""
    app.text_input(key="data_upload_name").set_value(name)
    app.file_uploader(key="data_upload_file").set_value((filename, content,
                                                         "application/octet-stream"))
    next(b for b in app.button if b.label == "Validate and add").click().run()
    assert not app.exception


def small_npz() -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=rng.integers(0, 256, (30, 12, 12), dtype=np.uint8),
             y_train=np.arange(30) % 3, x_test=rng.integers(0, 256, (9, 12, 12), dtype=np.uint8),
             y_test=np.arange(9) % 3)
    return buffer.getvalue()


def test_the_page_opens_on_mnist_with_every_chart(app: AppTest) -> None:
    assert app.selectbox(key="data_dataset").value == base.MNIST
    figures = charts(app)
    assert list(figures) == CHART_KEYS
    samples = figures["data_samples"]["data"]
    assert samples[0]["type"] == "image" and samples[0]["source"].startswith("data:image/png")
    assert len(samples[1]["text"]) == 100  # 10 classes × 10 images, each with a hover label
    assert figures["data_samples"]["layout"]["yaxis"]["ticktext"] == list("0123456789")
    counts = figures["data_counts"]["data"]
    assert counts[0]["y"] == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert len(figures["data_pca"]["data"]) == 10  # one trace per digit
    assert not app.error


def test_the_stats_table_shows_counts_size_and_pixel_statistics(app: AppTest) -> None:
    stats = table(app, "statistic")
    rows = dict(zip(stats["statistic"], zip(stats["train"], stats["test"], strict=True),
                    strict=True))
    assert rows["Images"] == ("60,000", "10,000")
    assert rows["Image size"] == ("28×28 grey", "28×28 grey")
    assert rows["Pixel mean (0–1)"][0] == "0.1307"
    assert rows["Pixel std (0–1)"][0] == "0.3081"


def test_the_preparation_steps_show_shapes_before_and_after(app: AppTest) -> None:
    steps = table(app, "step")
    assert steps["before"][1] == "60000×28×28" and steps["after"][1] == "60000×28×28×1"
    assert steps["after"][2] == "60000×10 float32"
    assert "to_categorical" in steps["code"][2]


def test_reshuffle_shows_other_images_and_the_seed_brings_them_back(app: AppTest) -> None:
    first = charts(app)["data_samples"]["data"][1]["text"]
    app.button(key="data_reshuffle").click().run()
    assert app.number_input(key="data_seed").value == 1
    assert charts(app)["data_samples"]["data"][1]["text"] != first
    app.number_input(key="data_seed").set_value(0).run()
    assert charts(app)["data_samples"]["data"][1]["text"] == first


def test_fewer_images_per_class_makes_a_smaller_grid(app: AppTest) -> None:
    app.slider(key="data_per_class").set_value(4).run()
    assert len(charts(app)["data_samples"]["data"][1]["text"]) == 40


def test_fashion_offline_shows_the_message_not_a_traceback(app: AppTest, monkeypatch) -> None:
    def no_network():
        raise OSError("no route to host")

    monkeypatch.setattr(catalog, "_download_fashion", no_network)
    catalog._load_fashion_cached.cache_clear()
    app.selectbox(key="data_dataset").set_value(base.FASHION).run()
    assert not app.exception
    assert len(app.error) == 1
    assert "Could not download Fashion-MNIST: no network" in app.error[0].value
    assert "MNIST is available offline" in app.error[0].value
    assert charts(app) == {}
    app.selectbox(key="data_dataset").set_value(base.MNIST).run()  # and back again
    assert not app.error and list(charts(app)) == CHART_KEYS


def test_a_bad_upload_shows_what_is_wrong_and_adds_nothing(app: AppTest, settings) -> None:
    upload(app, b"x,y\n1,2\n", name="broken")
    assert len(app.error) == 1 and "not a .npz file" in app.error[0].value
    assert app.selectbox(key="data_dataset").options == [base.MNIST, base.FASHION]
    assert catalog.list_datasets(settings) == [base.MNIST, base.FASHION]
    assert list(charts(app)) == CHART_KEYS  # MNIST is still shown


def test_pressing_add_without_a_file_asks_for_one(app: AppTest) -> None:
    next(b for b in app.button if b.label == "Validate and add").click().run()
    assert len(app.error) == 1 and "No file chosen" in app.error[0].value


def test_a_valid_upload_is_added_selected_and_explored(app: AppTest, settings) -> None:
    upload(app, small_npz(), filename="my digits.npz")  # the name defaults to the file's
    assert not app.error
    assert "Added 'my digits': 30 train and 9 test images, 3 classes" in app.success[0].value
    selector = app.selectbox(key="data_dataset")
    assert selector.value == "upload:my digits"
    assert "my digits (uploaded)" in selector.options
    figures = charts(app)
    assert list(figures) == CHART_KEYS
    assert figures["data_counts"]["data"][0]["y"] == [10, 10, 10]
    assert table(app, "statistic")["train"][:2] == ["30", "12×12 grey"]
    assert catalog.list_datasets(settings)[-1] == "upload:my digits"


def test_uploading_the_same_name_twice_is_refused(app: AppTest) -> None:
    upload(app, small_npz(), name="twice")
    upload(app, small_npz(), name="twice")
    assert len(app.error) == 1 and "'twice' already exists" in app.error[0].value


def import_zip(app: AppTest, content: bytes, name: str = "shapes") -> None:
    """Fill in the zip form and press "Import images"."""
    app.text_input(key="data_zip_name").set_value(name)
    app.file_uploader(key="data_zip_file").set_value(("shapes.zip", content, "application/zip"))
    next(b for b in app.button if b.label == "Import images").click().run()
    assert not app.exception


def test_a_zip_of_colour_class_folders_is_imported_and_shown_in_colour(app: AppTest) -> None:
    import zipfile

    from tests.helpers.datasets import shapes_zip

    buffer = io.BytesIO(shapes_zip(per_class=5))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("circle/notes.txt", b"x")
        archive.writestr("square/dup.png", archive.read("square/0.png"))
    import_zip(app, buffer.getvalue())
    assert app.selectbox(key="data_dataset").value == "upload:shapes"
    assert "Added 'shapes': 12 train and 3 test images, 3 classes, 32×32 colour (RGB)" in \
        app.success[0].value
    counts = table(app, "class")
    assert counts == {"class": ["circle", "square", "triangle"], "train": [4, 4, 4],
                      "test": [1, 1, 1]}
    problems = table(app, "left out")["left out"]
    assert problems == ["circle/notes.txt: not an image (PNG, JPEG, GIF, BMP or WebP), skipped",
                        "square/dup.png: the same file as square/0.png, skipped as a duplicate"]
    rows = {row: (tr, te) for row, tr, te in zip(*table(app, "statistic").values(), strict=True)}
    assert rows["Image size"] == ("32×32 colour (RGB)", "32×32 colour (RGB)")
    assert "Red mean / std (0–1)" in rows
    figures = charts(app)
    assert figures["data_histogram"]["layout"]["title"]["text"].startswith(
        "Pixel values per colour channel")
    assert [t["name"] for t in figures["data_histogram"]["data"]] == ["red", "green", "blue"]


def test_a_refused_zip_shows_its_sentence_and_adds_nothing(app: AppTest, settings) -> None:
    import_zip(app, b"not a zip at all")
    assert "This is not a .zip file" in app.error[0].value
    assert catalog.list_datasets(settings) == [base.MNIST, base.FASHION]
