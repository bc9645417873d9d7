"""Plotly figures for /train: live loss/accuracy curves and an overlay of several runs.

Builders take the points the run store holds (plain dicts) and return ``go.Figure``s.
The x axis is *epochs* for everything: a per-batch point at batch b of epoch e sits at
``e - 1 + b / steps``, an epoch's point at ``e``, so batch and epoch curves line up.
``uirevision`` keeps a user's zoom while the page redraws the figure every second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashcore.charts.text import plain

TRAIN_COLOUR = "#636EFA"
VAL_COLOUR = "#EF553B"
PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))
OVERLAY_METRICS = {"val_accuracy": "Validation accuracy", "val_loss": "Validation loss",
                   "accuracy": "Training accuracy", "loss": "Training loss"}


def _series(points: Sequence[dict[str, Any]], key: str, x_key: str = "x"
            ) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for point in points:
        value = point.get(key)
        if value is not None:
            xs.append(float(point.get(x_key, point.get("epoch", 0))))
            ys.append(float(value))
    return xs, ys


def live_figure(batch_points: Sequence[dict[str, Any]], epoch_points: Sequence[dict[str, Any]],
                height: int = 360) -> go.Figure:
    """Loss and accuracy side by side: training per batch (thin), training and validation
    per epoch (markers). Empty inputs give empty axes, ready for the first points."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in PANELS],
                        horizontal_spacing=0.08)
    for col, (metric, _title) in enumerate(PANELS, start=1):
        first = col == 1
        xs, ys = _series(batch_points, metric)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name="training, per batch", legendgroup="batch",
            showlegend=first, line={"color": TRAIN_COLOUR, "width": 1}, opacity=0.45,
            hovertemplate="epoch %{x:.2f}<br>%{y:.4f}<extra>batch</extra>"), row=1, col=col)
        xs, ys = _series(epoch_points, metric)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name="training, per epoch", legendgroup="train",
            showlegend=first, line={"color": TRAIN_COLOUR, "width": 2},
            hovertemplate="epoch %{x:.2f}<br>%{y:.4f}<extra>training</extra>"), row=1, col=col)
        xs, ys = _series(epoch_points, f"val_{metric}")
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name="validation, per epoch", legendgroup="val",
            showlegend=first, line={"color": VAL_COLOUR, "width": 2},
            hovertemplate="epoch %{x:.2f}<br>%{y:.4f}<extra>validation</extra>"), row=1, col=col)
        fig.update_xaxes(title_text="epoch", rangemode="tozero", row=1, col=col)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=height, margin={"l": 40, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, uirevision="live")
    return fig


def overlay_figure(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]],
                   metric: str = "val_accuracy", height: int = 380) -> go.Figure:
    """One curve per run (name, epoch points) of ``metric`` against epoch, to compare."""
    label = OVERLAY_METRICS.get(metric, metric)
    fig = go.Figure()
    for raw_name, points in runs:
        name = plain(raw_name)  # a run name is typed by a person: literal text, never markup
        xs, ys = _series(points, metric)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name,
                                 hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4f}}"
                                               "<extra></extra>"))
    fig.update_layout(height=height, xaxis_title="epoch", yaxis_title=label,
                      margin={"l": 40, "r": 20, "t": 30, "b": 40}, uirevision="overlay",
                      legend={"orientation": "h", "y": -0.25})
    if "accuracy" in metric:
        fig.update_yaxes(range=[0, 1.02])
    return fig
