"""The numbers and figures on /data: checked against plain NumPy, not against themselves."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from dashcore.charts import data as charts
from dashcore.datasets import base, catalog, statistics


def decode_png(figure: go.Figure) -> np.ndarray:
    """The grey image a ``go.Image`` trace sends to the browser."""
    source = figure.data[0].source
    assert source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def two_blob_dataset() -> base.Dataset:
    """Class 0: a bright left half; class 1: a bright right half (plus a little noise)."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 30, (40, 10, 10), dtype=np.uint8)
    y = np.arange(40) % 2
    x[y == 0, :, :5] += 200
    x[y == 1, :, 5:] += 200
    return base.Dataset(name="blobs", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10],
                        class_names=("left", "right"))


# ---------------------------------------------------------------- numbers


def test_class_counts_are_mnists() -> None:
    train, test = statistics.class_counts(catalog.load_mnist())
    assert train.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_summary_gives_mnists_well_known_mean_and_std() -> None:
    summary = statistics.summary(catalog.load_mnist())
    assert summary.pixel_mean == pytest.approx(0.1307, abs=5e-5)  # the tutorials' Normalize()
    assert summary.pixel_std == pytest.approx(0.3081, abs=5e-5)
    rows = {row["statistic"]: (row["train"], row["test"]) for row in summary.rows}
    assert rows["Images"] == ("60,000", "10,000")
    assert rows["Image size"] == ("28×28 grey", "28×28 grey")
    assert rows["Classes"] == ("10 of 10", "10 of 10")
    assert rows["Smallest / largest class"] == ("5,421 / 6,742", "892 / 1,135")


def test_pixel_histogram_counts_every_pixel_exactly() -> None:
    x = np.random.default_rng(0).integers(0, 256, (7, 9, 11), dtype=np.uint8)
    hist = statistics.pixel_histogram(x)
    assert hist.tolist() == np.bincount(x.ravel(), minlength=256).tolist()
    assert hist.sum() == x.size


def test_mean_images_are_the_per_class_averages() -> None:
    ds = two_blob_dataset()
    means = statistics.mean_images(ds.x_train, ds.y_train, 3)
    np.testing.assert_allclose(means[0], ds.x_train[ds.y_train == 0].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(means[1], ds.x_train[ds.y_train == 1].mean(axis=0), rtol=1e-6)
    assert np.isnan(means[2]).all()  # a class with no images stays visibly empty


def test_sample_indices_pick_distinct_images_of_each_class() -> None:
    y = catalog.load_mnist().y_train
    picked = statistics.sample_indices(y, 10, 8, seed=5)
    assert picked.shape == (10, 8)
    for label, row in enumerate(picked):
        assert (y[row] == label).all() and len(set(row.tolist())) == 8


def test_the_same_seed_gives_the_same_samples_and_another_seed_others() -> None:
    y = catalog.load_mnist().y_train
    first = statistics.sample_indices(y, 10, 8, seed=5)
    np.testing.assert_array_equal(first, statistics.sample_indices(y, 10, 8, seed=5))
    assert not np.array_equal(first, statistics.sample_indices(y, 10, 8, seed=6))


def test_a_class_with_too_few_images_leaves_blank_tiles() -> None:
    y = np.array([0, 0, 0, 1])
    picked = statistics.sample_indices(y, 2, 3, seed=0)
    assert sorted(picked[0].tolist()) == [0, 1, 2]
    assert picked[1].tolist() == [3, -1, -1]
    tiles = statistics.sample_tiles(np.full((4, 2, 2), 9, np.uint8), picked)
    assert tiles[1, 0].max() == 9 and tiles[1, 1:].max() == 0


def test_pca_matches_numpys_svd_on_the_same_subsample() -> None:
    mnist = catalog.load_mnist()
    projection = statistics.pca_2d(mnist.x_train, mnist.y_train, sample=500, seed=1)
    chosen = mnist.x_train[projection.indices].reshape(500, -1) / 255.0
    centred = chosen - chosen.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    for axis in range(2):  # equal up to the (arbitrary) sign of each component
        sign = np.sign(expected[0, axis] * projection.coords[0, axis])
        np.testing.assert_allclose(projection.coords[:, axis], sign * expected[:, axis],
                                   atol=1e-3)
    variance = singular**2 / (singular**2).sum()
    assert projection.explained == pytest.approx(tuple(variance[:2]), rel=1e-4)
    np.testing.assert_array_equal(projection.labels, mnist.y_train[projection.indices])


def test_pca_separates_two_obviously_different_classes() -> None:
    ds = two_blob_dataset()
    projection = statistics.pca_2d(ds.x_train, ds.y_train)
    pc1 = projection.coords[:, 0]
    left, right = pc1[projection.labels == 0], pc1[projection.labels == 1]
    assert left.max() < right.min() or right.max() < left.min()
    assert projection.explained[0] > 0.8


def test_pca_is_the_same_picture_every_time() -> None:
    ds = two_blob_dataset()
    first, second = statistics.pca_2d(ds.x_train, ds.y_train), statistics.pca_2d(ds.x_train,
                                                                             ds.y_train)
    np.testing.assert_array_equal(first.coords, second.coords)


def test_pca_of_large_uploads_uses_a_block_averaged_copy() -> None:
    x = np.zeros((30, 256, 200), np.uint8)
    x[::2, :, :100] = 255  # even images bright on the left
    projection = statistics.pca_2d(x, np.arange(30) % 2)
    assert projection.coords.shape == (30, 2)
    pc1 = projection.coords[:, 0]
    assert np.ptp(pc1[::2]) < 1e-6 and np.ptp(pc1[1::2]) < 1e-6 and pc1[0] != pc1[1]


def test_mosaic_places_each_tile_with_a_gap() -> None:
    tiles = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2)
    out = statistics.mosaic(tiles, gap=1, fill=255)
    assert out.shape == (2 * 3 - 1, 3 * 3 - 1)
    np.testing.assert_array_equal(out[3:5, 6:8], tiles[1, 2])
    assert (out[2, :] == 255).all() and (out[:, 2] == 255).all()


def test_fingerprint_changes_when_the_content_does() -> None:
    ds = two_blob_dataset()
    other = base.Dataset(name="blobs", x_train=ds.x_train, y_train=1 - ds.y_train,
                         x_test=ds.x_test, y_test=ds.y_test, class_names=ds.class_names)
    assert statistics.fingerprint(ds) == statistics.fingerprint(two_blob_dataset())
    assert statistics.fingerprint(ds) != statistics.fingerprint(other)


# ---------------------------------------------------------------- figures


def test_sample_grid_shows_the_chosen_images_with_class_rows_and_hover() -> None:
    mnist = catalog.load_mnist()
    indices = statistics.sample_indices(mnist.y_train, 10, 6, seed=7)
    tiles = statistics.sample_tiles(mnist.x_train, indices)
    fig = charts.sample_grid_figure(tiles, indices, mnist.class_names, seed=7)
    np.testing.assert_array_equal(decode_png(fig), statistics.mosaic(tiles, charts.GAP, 64))
    assert list(fig.layout.yaxis.ticktext) == list("0123456789")
    hover = list(fig.data[1].text)
    assert len(hover) == 60
    assert hover[0] == f"class 0 · train #{indices[0, 0]}"
    assert hover[-1] == f"class 9 · train #{indices[9, 5]}"
    assert "seed 7" in fig.layout.title.text


def test_blank_tiles_have_no_hover() -> None:
    indices = np.array([[0, 1], [2, -1]])
    tiles = statistics.sample_tiles(np.full((3, 8, 8), 200, np.uint8), indices)
    fig = charts.sample_grid_figure(tiles, indices, ("a", "b"), seed=0)
    assert list(fig.data[1].text) == ["class a · train #0", "class a · train #1",
                                      "class b · train #2"]


def test_class_counts_are_grouped_bars_train_vs_test() -> None:
    fig = charts.class_counts_figure(np.array([5, 7]), np.array([1, 3]), ("cat", "dog"))
    assert fig.layout.barmode == "group"
    assert [(bar.name, list(bar.x), list(bar.y)) for bar in fig.data] == [
        ("train", ["cat", "dog"], [5, 7]), ("test", ["cat", "dog"], [1, 3])]
    assert list(fig.data[1].customdata) == [25.0, 75.0]  # share of the split, in %


def test_pixel_histogram_shows_shares_on_a_log_axis() -> None:
    train = np.zeros(256, np.int64)
    train[0], train[255] = 75, 25
    fig = charts.pixel_histogram_figure(train, train * 2)
    assert [trace.name for trace in fig.data] == ["train", "test"]
    assert fig.data[0].y[0] == 75.0 and fig.data[0].y[255] == 25.0
    assert sum(fig.data[1].y) == pytest.approx(100.0)
    assert fig.layout.yaxis.type == "log"
    assert "75.0% of train pixels are 0" in fig.layout.title.text


def test_mean_images_figure_shows_each_class_mean_with_its_name() -> None:
    ds = two_blob_dataset()
    means = statistics.mean_images(ds.x_train, ds.y_train, 2)
    fig = charts.mean_images_figure(means, ds.class_names)
    picture = decode_png(fig)
    np.testing.assert_array_equal(picture[:10, :10], np.round(means[0]).astype(np.uint8))
    np.testing.assert_array_equal(picture[:10, 12:22], np.round(means[1]).astype(np.uint8))
    assert [a.text for a in fig.layout.annotations] == ["left", "right"]


def test_mean_images_wrap_after_ten_classes() -> None:
    means = np.zeros((12, 8, 8), np.float32)
    fig = charts.mean_images_figure(means, tuple(str(i) for i in range(12)))
    assert decode_png(fig).shape == (2 * 8 + charts.GAP, 10 * 8 + 9 * charts.GAP)


def test_pca_figure_has_a_trace_per_class_and_hover_with_label_and_index() -> None:
    ds = two_blob_dataset()
    projection = statistics.pca_2d(ds.x_train, ds.y_train)
    fig = charts.pca_figure(projection, ds.class_names)
    assert [trace.name for trace in fig.data] == ["left", "right"]
    right = fig.data[1]
    assert list(right.customdata) == projection.indices[projection.labels == 1].tolist()
    assert "class right · train #%{customdata}" in right.hovertemplate
    assert fig.layout.xaxis.title.text.startswith("PC1 (")
    assert "% of variance" in fig.layout.yaxis.title.text
    assert fig.data[0].marker.color != fig.data[1].marker.color
