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

from dashcore.charts.text import plain
from dashcore.tables.columns import BINARY, REGRESSION
from dashcore.tables.schema import TASK_PANELS

TRAIN_COLOUR = "#636EFA"
VAL_COLOUR = "#EF553B"
PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))
SHARES = ("accuracy", "auc")  # metrics from 0 to 1, drawn on a fixed 0–1 axis
SPACING = 0.08  # between the two live panels, fraction of the figure's width
OVERLAY_METRICS = {"val_accuracy": "Validation accuracy", "val_loss": "Validation loss",
                   "accuracy": "Training accuracy", "loss": "Training loss",
                   "val_mae": "Validation MAE (tables)", "val_rmse": "Validation RMSE (tables)",
                   "val_auc": "Validation AUC (tables)"}


def _series(points: Sequence[dict[str, Any]], key: str, x_key: str = "x"
            ) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for point in points:
        value = point.get(key)
        if value is not None:
            xs.append(float(point.get(x_key, point.get("epoch", 0))))
            ys.append(float(value))
    return xs, ys


def panels_for(points: Sequence[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The panels a run's metrics call for: loss and accuracy for classes (and AUC for a
    table's two classes), loss, MAE and RMSE for a regression (see
    ``dashcore.tables.schema.TASK_PANELS``)."""
    keys = {key for point in points[:5] for key in point}
    if "mae" in keys:
        return TASK_PANELS[REGRESSION]
    if "auc" in keys:
        return TASK_PANELS[BINARY]
    return PANELS


def live_figure(batch_points: Sequence[dict[str, Any]], epoch_points: Sequence[dict[str, Any]],
                height: int = 360, panels: Sequence[tuple[str, str]] | None = None
                ) -> go.Figure:
    """Loss and accuracy side by side (or the ``panels`` given; by default those
    :func:`panels_for` the points): training per batch (thin), training and validation per
    epoch (markers). Empty inputs give empty axes, ready for the first points.

    Built in one ``go.Figure(data, layout)`` call, with the two panels laid out as
    ``make_subplots(rows=1, cols=2, horizontal_spacing=0.08)`` would: every open /train
    rebuilds this each second, and ``make_subplots`` plus per-trace ``add_trace`` cost
    several times more CPU for the same figure (BENCHMARKS.md, "How many people").
    """
    panels = tuple(panels or panels_for(list(batch_points) or list(epoch_points)))
    width = (1 - SPACING * (len(panels) - 1)) / len(panels)
    domains = [[i * (width + SPACING), i * (width + SPACING) + width]
               for i in range(len(panels))]
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "height": height, "margin": {"l": 40, "r": 20, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.2}, "uirevision": "live", "annotations": []}
    for col, (metric, title) in enumerate(panels, start=1):
        first = col == 1
        suffix = "" if first else str(col)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        for points, key, name, group, line, mode, extra in (
                (batch_points, metric, "training, per batch", "batch",
                 {"color": TRAIN_COLOUR, "width": 1}, "lines", "batch"),
                (epoch_points, metric, "training, per epoch", "train",
                 {"color": TRAIN_COLOUR, "width": 2}, "lines+markers", "training"),
                (epoch_points, f"val_{metric}", "validation, per epoch", "val",
                 {"color": VAL_COLOUR, "width": 2}, "lines+markers", "validation")):
            xs, ys = _series(points, key)
            trace = {"type": "scatter", "x": xs, "y": ys, "mode": mode, "name": name,
                     "legendgroup": group, "showlegend": first, "line": line,
                     "hovertemplate": f"epoch %{{x:.2f}}<br>%{{y:.4f}}<extra>{extra}</extra>",
                     **axes}
            if group == "batch":
                trace["opacity"] = 0.45
            traces.append(trace)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": domains[col - 1],
                                    "title": {"text": "epoch"}, "rangemode": "tozero"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [0.0, 1.0],
                                    **({"range": [0, 1.02]} if metric in SHARES
                                       else {"rangemode": "tozero"})}
        layout["annotations"].append({
            "text": title, "x": sum(domains[col - 1]) / 2, "y": 1.0, "xref": "paper",
            "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
            "font": {"size": 16}})
    return go.Figure(data=traces, layout=layout)


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
