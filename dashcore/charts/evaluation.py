"""Plotly figures for /evaluate: a clickable confusion matrix, histograms, bars, diffs.

Plotly heatmaps emit no selection events (streamlit/streamlit#8760, #15042), so
the confusion matrix carries an invisible square marker on every cell: clicking a
cell selects that marker, and :func:`cell_from_selection` reads the (true, predicted)
pair back from Streamlit's selection state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashcore.charts.text import plain, plain_all
from dashcore.evaluation.metrics import Histogram, MetricsTable, row_normalise

CELL_TRACE = 1  # index of the invisible click-target trace in the confusion figure
# Light-to-dark blues with most of the range spent on small values, so a cell with
# 3 mistakes is visibly tinted next to a diagonal of 1,000.
_BLUES = [[0.0, "#f7fbff"], [0.01, "#deebf7"], [0.05, "#9ecae1"], [0.2, "#4292c6"],
          [0.5, "#2171b5"], [1.0, "#08306b"]]


def _axes(fig: go.Figure, class_names: Sequence[str], height: int) -> None:
    ticks = list(range(len(class_names)))
    fig.update_xaxes(title="Predicted label", tickvals=ticks, ticktext=plain_all(class_names),
                     showgrid=False, zeroline=False, range=[-0.5, len(ticks) - 0.5],
                     constrain="domain")
    fig.update_yaxes(title="True label", tickvals=ticks, ticktext=plain_all(class_names),
                     showgrid=False, zeroline=False, range=[len(ticks) - 0.5, -0.5],
                     scaleanchor="x", constrain="domain")
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50},
                      hovermode="closest", clickmode="event+select", dragmode=False)


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str], normalised: bool = False,
                     selected: tuple[int, int] | None = None, title: str = "",
                     height: int = 500, unit: str = "images") -> go.Figure:
    """Confusion-matrix heatmap (rows true, columns predicted) whose cells can be clicked.

    Args:
        matrix: ``(K, K)`` counts.
        class_names: tick labels.
        normalised: colour and label cells by row share (recall on the diagonal)
            instead of counts. Defaults to counts.
        selected: a (true, predicted) cell to outline, e.g. the one being drilled into.
        unit: what is counted, for the colour bar and hover ("rows" for a table).
    """
    matrix = np.asarray(matrix)
    k = len(class_names)
    shares = row_normalise(matrix)
    z = shares if normalised else matrix
    if normalised:
        text = [[f"{v:.0%}" if matrix[t, p] else "" for p, v in enumerate(row)]
                for t, row in enumerate(shares)]
    else:
        text = [[f"{v:,}" if v else "" for v in row] for row in matrix.tolist()]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=z, x=list(range(k)), y=list(range(k)), text=text, texttemplate="%{text}",
        colorscale=_BLUES, zmin=0, zmax=1 if normalised else max(int(matrix.max()), 1),
        hoverinfo="skip", showscale=True,
        colorbar={"title": "share of row" if normalised else unit, "thickness": 12},
    ))
    trues, preds = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    trues, preds = trues.ravel(), preds.ravel()
    custom = np.stack([trues, preds, matrix.ravel(), (shares.ravel() * 100).round(1)], axis=1)
    names = np.asarray(plain_all(class_names), dtype=object)
    marker_px = max(8, int((height - 90) / max(k, 1) * 0.95))
    fig.add_trace(go.Scatter(
        x=preds, y=trues, mode="markers", customdata=custom,
        hovertext=[f"true {names[t]} → predicted {names[p]}" for t, p in zip(trues, preds,
                                                                            strict=True)],
        hovertemplate="%{hovertext}<br>%{customdata[2]:,} " + unit
                      + " (%{customdata[3]}% of row)"
                      "<br>click to see them<extra></extra>",
        marker={"symbol": "square", "size": marker_px, "color": "rgba(0,0,0,0)",
                "line": {"width": 0}},
        selected={"marker": {"opacity": 1, "color": "rgba(255,140,0,0.25)"}},
        unselected={"marker": {"opacity": 1}},
        showlegend=False, name="cells",
    ))
    if selected is not None:
        t, p = selected
        fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                      line={"color": "darkorange", "width": 3})
    _axes(fig, class_names, height)
    if title:
        fig.update_layout(title=plain(title))
    return fig


def cell_from_selection(selection: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """The (true, predicted) cell a click selected, from ``st.plotly_chart``'s selection state.

    Returns None when nothing on the cell layer is selected. With several points
    selected, the last one wins (the newest click).
    """
    if not selection:
        return None
    points = selection.get("points") or []
    for point in reversed(list(points)):
        curve = point.get("curve_number", point.get("curveNumber", CELL_TRACE))
        if curve != CELL_TRACE:
            continue
        # x is the predicted class and y the true one. (customdata is not used: the
        # browser sends it back as an object keyed "0", "1", … rather than a list.)
        try:
            return int(round(float(point["y"]))), int(round(float(point["x"])))
        except (KeyError, TypeError, ValueError):
            continue
    return None


def cell_centre(matrix_size: int, true_class: int, pred_class: int) -> tuple[float, float]:
    """Where a cell's centre is, as fractions (0–1) of the plot area from its top-left.

    Browser tests use it to click a cell without knowing pixel layouts.
    """
    return (pred_class + 0.5) / matrix_size, (true_class + 0.5) / matrix_size


def confidence_figure(hist: Histogram, height: int = 320) -> go.Figure:
    """Right vs wrong predictions by confidence (log count axis: mistakes are few)."""
    centres = (hist.edges[:-1] + hist.edges[1:]) / 2
    width = float(hist.edges[1] - hist.edges[0])
    fig = go.Figure()
    fig.add_trace(go.Bar(x=centres, y=hist.right, width=width * 0.45, offset=-width * 0.45,
                         name="right", marker_color="#2ca02c"))
    fig.add_trace(go.Bar(x=centres, y=hist.wrong, width=width * 0.45, offset=0,
                         name="wrong", marker_color="#d62728"))
    fig.update_xaxes(title="confidence (probability of the predicted class)", range=[0, 1])
    fig.update_yaxes(title="images (log scale)", type="log")
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 30, "b": 50},
                      legend={"orientation": "h", "y": 1.12})
    return fig


def per_class_figure(metrics: MetricsTable, height: int = 320) -> go.Figure:
    """Precision, recall and F1 per class as grouped bars."""
    names = plain_all(r.name for r in metrics.rows)
    fig = go.Figure()
    for label, values in (("precision", [r.precision for r in metrics.rows]),
                          ("recall", [r.recall for r in metrics.rows]),
                          ("F1", [r.f1 for r in metrics.rows])):
        fig.add_trace(go.Bar(x=names, y=values, name=label))
    low = min([r.f1 for r in metrics.rows] + [r.precision for r in metrics.rows]
              + [r.recall for r in metrics.rows] + [1.0])
    fig.update_yaxes(range=[max(0.0, low - 0.05), 1.0], tickformat=".0%")
    fig.update_xaxes(title="class", type="category")
    fig.update_layout(barmode="group", height=height,
                      margin={"l": 60, "r": 20, "t": 30, "b": 50},
                      legend={"orientation": "h", "y": 1.12})
    return fig


def difference_figure(diff: np.ndarray, class_names: Sequence[str], height: int = 520
                      ) -> go.Figure:
    """B's confusion counts minus A's, coloured so blue always means "B is better".

    On the diagonal more is better (more right); off it, fewer is better (fewer mistakes).
    """
    diff = np.asarray(diff, dtype=np.int64)
    k = len(class_names)
    better = -diff.astype(np.float64)
    np.fill_diagonal(better, np.diag(diff))
    bound = max(float(np.abs(better).max()), 1.0)
    text = [[f"{v:+d}" if v else "" for v in row] for row in diff.tolist()]
    fig = go.Figure(go.Heatmap(
        z=better, x=list(range(k)), y=list(range(k)), text=text, texttemplate="%{text}",
        customdata=diff, colorscale="RdBu", zmid=0, zmin=-bound, zmax=bound,
        hovertemplate="true %{y} → predicted %{x}: %{customdata:+d} images (B − A)"
                      "<extra></extra>",
        colorbar={"title": "B better →", "thickness": 12},
    ))
    _axes(fig, class_names, height)
    return fig
