"""Plotly figures for /data: sample grid, class counts, pixel histogram, mean images, PCA map.

Each builder takes the small results of :mod:`dashcore.datasets.statistics` (never a whole dataset)
and returns a ``go.Figure``, so pages only lay figures out and tests can inspect them.
Image grids are sent as one PNG (a ``go.Image``) with invisible hover points on the tiles:
a heatmap per tile would ship every pixel as JSON.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from dashcore.charts.text import plain, plain_all
from dashcore.datasets.statistics import Projection, mosaic

GAP = 2  # pixels between tiles in an image grid
_QUALITATIVE = (  # Plotly's default 10 colours, then Dark24 for datasets with more classes
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880",
    "#FF97FF", "#FECB52", "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A",
    "#B68100", "#750D86", "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D",
    "#6C7C32", "#778AA2", "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516",
)


def class_colour(label: int) -> str:
    """A stable colour per class, shared by every chart so class 3 is always the same hue."""
    return _QUALITATIVE[label % len(_QUALITATIVE)]


def png_data_uri(image: np.ndarray) -> str:
    """Encode a grey ``(H, W)`` or RGB ``(H, W, 3)`` uint8 array as a PNG data URI."""
    buffer = io.BytesIO()
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    Image.fromarray(pixels, mode="RGB" if pixels.ndim == 3 else "L").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_grid(tiles: np.ndarray, hover: list[list[str]], title: str,
                row_labels: Sequence[str] | None = None, scale: float = 1.6) -> go.Figure:
    """A ``(rows, cols, H, W[, 3])`` uint8 grid as one PNG, with a hover text at each tile."""
    rows, cols, height, width = tiles.shape[:4]
    picture = mosaic(tiles, gap=GAP, fill=64)  # dark grey gaps separate black backgrounds
    fig = go.Figure(go.Image(source=png_data_uri(picture), hoverinfo="skip"))
    centres_x, centres_y, texts = [], [], []
    for r in range(rows):
        for c in range(cols):
            if hover[r][c]:
                centres_x.append(c * (width + GAP) + width / 2)
                centres_y.append(r * (height + GAP) + height / 2)
                texts.append(hover[r][c])
    fig.add_trace(go.Scatter(x=centres_x, y=centres_y, text=texts, mode="markers",
                             marker={"size": max(width, height), "opacity": 0},
                             hovertemplate="%{text}<extra></extra>", showlegend=False))
    row_centres = [r * (height + GAP) + height / 2 for r in range(rows)]
    fig.update_xaxes(visible=False, range=[-0.5, picture.shape[1] - 0.5])
    fig.update_yaxes(scaleanchor="x", tickmode="array",
                     tickvals=row_centres if row_labels else [],
                     ticktext=list(row_labels) if row_labels else [],
                     showgrid=False, zeroline=False, range=[picture.shape[0] - 0.5, -0.5])
    pixel_scale = scale * max(1.0, 28 / max(height, width))
    fig.update_layout(title=title, hovermode="closest", hoverdistance=-1,
                      height=int(min(1400, max(220, picture.shape[0] * pixel_scale + 90))),
                      margin={"l": 60, "r": 10, "t": 50, "b": 10})
    return fig


def sample_grid_figure(tiles: np.ndarray, indices: np.ndarray, class_names: Sequence[str],
                       seed: int, split: str = "train") -> go.Figure:
    """Sample images, one row per class; hovering a tile names its class and index.

    Args:
        tiles: ``(K, S, H, W[, 3])`` uint8 images (grey or colour) from
            :func:`dashcore.datasets.statistics.sample_tiles`.
        indices: ``(K, S)`` their indices in the split (-1 for a blank tile).
        class_names: one name per row.
        seed: the shuffle seed, shown in the title so a grid can be found again.
        split: which split the indices refer to.
    """
    hover = [[f"class {plain(class_names[r])} · {split} #{int(i)}" if i >= 0 else ""
              for i in row] for r, row in enumerate(indices)]
    return _image_grid(tiles, hover, f"{indices.shape[1]} random {split} images per class "
                       f"(seed {seed})", row_labels=plain_all(class_names))


def mean_images_figure(means: np.ndarray, class_names: Sequence[str],
                       per_row: int = 10) -> go.Figure:
    """The average image of each class side by side: where the ink usually is.

    Args:
        means: ``(K, H, W[, 3])`` float means in 0–255 (NaN for a class with no images).
        class_names: one name per class.
        per_row: classes per row of the grid.
    """
    k, height, width = means.shape[:3]
    cols = min(per_row, k)
    rows = -(-k // cols)
    tiles = np.zeros((rows, cols, *means.shape[1:]), dtype=np.uint8)
    hover = [["" for _ in range(cols)] for _ in range(rows)]
    for label in range(k):
        r, c = divmod(label, cols)
        tiles[r, c] = np.round(np.nan_to_num(means[label], nan=0.0)).clip(0, 255)
        empty = np.isnan(means[label]).all()
        hover[r][c] = (f"class {plain(class_names[label])}"
                       + (" · no images" if empty else " · mean"))
    fig = _image_grid(tiles, hover, "Mean image of each class (train)", scale=2.2)
    for label in range(k):  # a caption above each tile
        r, c = divmod(label, cols)
        fig.add_annotation(x=c * (width + GAP) + width / 2, y=r * (height + GAP) - 0.5,
                           text=plain(class_names[label]), showarrow=False, yanchor="bottom",
                           font={"size": 12})
    fig.update_yaxes(range=[rows * (height + GAP) - GAP - 0.5, -0.5 - height * 0.35])
    fig.update_layout(height=90 + rows * 80)  # a row of ten tiles is ~70 px tall on a page
    return fig


def class_counts_figure(train_counts: np.ndarray, test_counts: np.ndarray,
                        class_names: Sequence[str]) -> go.Figure:
    """Images per class, train and test side by side, to spot an unbalanced class."""
    names = plain_all(class_names)
    fig = go.Figure()
    for split, counts, colour in (("train", train_counts, "#636EFA"),
                                  ("test", test_counts, "#EF553B")):
        counts = np.asarray(counts, dtype=np.int64)
        share = counts / max(1, int(counts.sum())) * 100
        fig.add_trace(go.Bar(
            name=split, x=names, y=counts.tolist(), marker_color=colour,
            customdata=share.round(2).tolist(),
            hovertemplate=f"class %{{x}} · {split}: %{{y:,}} images (%{{customdata}}%)"
                          "<extra></extra>"))
    fig.update_layout(barmode="group", title="Images per class, train vs test",
                      xaxis_title="class", yaxis_title="images", xaxis_type="category",
                      legend_title_text="split", height=360,
                      margin={"l": 60, "r": 10, "t": 50, "b": 40})
    return fig


_CHANNEL_LINES = (("red", "#D62728"), ("green", "#2CA02C"), ("blue", "#1F77B4"))


def channel_histogram_figure(train_hists: np.ndarray, log_y: bool = True) -> go.Figure:
    """Share of train pixels at each value 0–255, one line per colour channel (R, G, B).

    Args:
        train_hists: ``(3, 256)`` counts from
            :func:`dashcore.datasets.statistics.channel_histograms`.
        log_y: log scale, as for grey images (dark backgrounds dominate).
    """
    fig = go.Figure()
    values = list(range(256))
    for (channel, colour), hist in zip(_CHANNEL_LINES, train_hists, strict=False):
        share = np.asarray(hist, dtype=np.float64) / max(1, int(np.sum(hist))) * 100
        fig.add_trace(go.Scatter(
            name=channel, x=values, y=share.tolist(), mode="lines", line_shape="hvh",
            line={"color": colour},
            hovertemplate=f"{channel}: %{{y:.3g}}% of train pixels = %{{x}}<extra></extra>"))
    fig.update_layout(title="Pixel values per colour channel (train)",
                      xaxis_title="value (0 = none of this colour, 255 = full)",
                      yaxis_title="% of pixels", yaxis_type="log" if log_y else "linear",
                      legend_title_text="channel", height=360,
                      margin={"l": 60, "r": 10, "t": 50, "b": 40})
    fig.update_xaxes(range=[-1, 256])
    return fig


def pixel_histogram_figure(train_hist: np.ndarray, test_hist: np.ndarray | None = None,
                           log_y: bool = True) -> go.Figure:
    """Share of pixels at each intensity 0–255; log scale because background (0) dominates."""
    fig = go.Figure()
    values = list(range(256))
    for split, hist, colour in (("train", train_hist, "#636EFA"), ("test", test_hist, "#EF553B")):
        if hist is None:
            continue
        share = np.asarray(hist, dtype=np.float64) / max(1, int(np.sum(hist))) * 100
        fig.add_trace(go.Scatter(
            name=split, x=values, y=share.tolist(), mode="lines", line_shape="hvh",
            line={"color": colour},
            hovertemplate=f"{split}: %{{y:.3g}}% of pixels = %{{x}}<extra></extra>"))
    zero = float(train_hist[0]) / max(1, int(np.sum(train_hist))) * 100
    fig.update_layout(title=f"Pixel values: {zero:.1f}% of train pixels are 0",
                      xaxis_title="pixel value (0 = black, 255 = white)",
                      yaxis_title="% of pixels", yaxis_type="log" if log_y else "linear",
                      height=360, margin={"l": 60, "r": 10, "t": 50, "b": 40})
    fig.update_xaxes(range=[-1, 256])
    return fig


def pca_figure(projection: Projection, class_names: Sequence[str],
               split: str = "train") -> go.Figure:
    """The PCA map: one WebGL trace per class (click the legend to hide a class).

    Hovering a point names its class and its index in the split, so a user can look up the
    odd one out.
    """
    fig = go.Figure()
    for label in np.unique(projection.labels):
        mask = projection.labels == label
        name = plain(class_names[int(label)])
        fig.add_trace(go.Scattergl(
            name=name, x=projection.coords[mask, 0].tolist(),
            y=projection.coords[mask, 1].tolist(), mode="markers",
            marker={"size": 5, "color": class_colour(int(label)), "opacity": 0.75},
            customdata=projection.indices[mask].tolist(),
            hovertemplate=f"class {name} · {split} #%{{customdata}}<extra></extra>"))
    first, second = projection.explained
    fig.update_layout(
        title=f"PCA of {len(projection.indices):,} random {split} images, coloured by class",
        xaxis_title=f"PC1 ({first:.1%} of variance)",
        yaxis_title=f"PC2 ({second:.1%} of variance)",
        legend_title_text="class", height=520, margin={"l": 60, "r": 10, "t": 50, "b": 40})
    return fig
