"""Plotly figures for tables: exploration on /data (a column's distribution, the target's,
correlations, target against a feature) and regression / binary evaluation on /evaluate.

Column names and category values come from the person who uploaded the CSV: every one goes
through :func:`dashcore.charts.text.plain` before it reaches a title, tick, legend or hover.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashcore.charts.text import plain, plain_all
from dashcore.tables.columns import CATEGORY, NUMBER, missing_mask, to_numbers

MAX_BARS = 30  # categories shown in a bar chart (the rest are summed as "other")
MAX_POINTS = 5_000  # points drawn in a scatter (an even sample beyond)


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 50, "r": 20, "t": 50, "b": 50},
                      xaxis_title=x, yaxis_title=y, showlegend=False)
    return fig


def column_figure(values: pd.Series, kind: str, name: str) -> go.Figure:
    """A histogram of a number column, or a bar per value of a category column."""
    shown = plain(name)
    if kind == NUMBER:
        numbers = to_numbers(values)
        numbers = numbers[np.isfinite(numbers)]
        fig = go.Figure(go.Histogram(x=numbers, nbinsx=40, marker_color="#636EFA",
                                     hovertemplate="%{x}: %{y} rows<extra></extra>"))
        return _layout(fig, f"{shown}: distribution", shown, "rows")
    filled = values[~missing_mask(values)].str.strip()
    counts = filled.value_counts()
    if len(counts) > MAX_BARS:
        counts = pd.concat([counts.iloc[:MAX_BARS - 1],
                            pd.Series({"(other values)": counts.iloc[MAX_BARS - 1:].sum()})])
    fig = go.Figure(go.Bar(x=plain_all(counts.index), y=counts.to_numpy(),
                           marker_color="#636EFA",
                           hovertemplate="%{x}: %{y} rows<extra></extra>"))
    fig.update_xaxes(type="category")
    return _layout(fig, f"{shown}: rows per value", shown, "rows")


def correlation_figure(frame: pd.DataFrame, columns: Sequence[str]) -> go.Figure:
    """Pearson correlations between the numeric columns, as a heatmap from −1 to 1."""
    numbers = np.column_stack([to_numbers(frame[c]) for c in columns])
    matrix = pd.DataFrame(numbers).corr().to_numpy()
    names = plain_all(columns)
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, zmin=-1, zmax=1,
                               colorscale="RdBu", reversescale=True,
                               text=[[f"{v:.2f}" for v in row] for row in matrix],
                               texttemplate="%{text}",
                               hovertemplate="%{y} · %{x}: %{z:.2f}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title="Correlation between numeric columns", height=420,
                      margin={"l": 80, "r": 20, "t": 50, "b": 80})
    return fig


def _even_sample(n: int) -> np.ndarray:
    return np.linspace(0, n - 1, MAX_POINTS).astype(int) if n > MAX_POINTS else np.arange(n)


def target_against_figure(frame: pd.DataFrame, feature: str, feature_kind: str, target: str,
                          target_is_number: bool) -> go.Figure:
    """The target against one feature: a scatter for two numbers, boxes per category."""
    keep = ~missing_mask(frame[feature]) & ~missing_mask(frame[target])
    rows = frame[keep]
    x_name, y_name = plain(feature), plain(target)
    if feature_kind == CATEGORY and target_is_number:
        fig = go.Figure(go.Box(x=plain_all(rows[feature].str.strip()),
                               y=to_numbers(rows[target]), marker_color="#636EFA"))
        fig.update_xaxes(type="category")
    elif target_is_number:
        index = _even_sample(len(rows))
        fig = go.Figure(go.Scattergl(x=to_numbers(rows[feature])[index],
                                     y=to_numbers(rows[target])[index], mode="markers",
                                     marker={"size": 5, "opacity": 0.6, "color": "#636EFA"},
                                     hovertemplate="%{x}, %{y}<extra></extra>"))
    elif feature_kind == NUMBER:  # a number feature against a class target: one box per class
        fig = go.Figure(go.Box(x=to_numbers(rows[feature]),
                               y=plain_all(rows[target].str.strip()), orientation="h",
                               marker_color="#636EFA"))
        fig.update_yaxes(type="category")
        return _layout(fig, f"{x_name} by {y_name}", x_name, y_name, 380)
    else:  # two categories: rows of each pair
        table = pd.crosstab(rows[target].str.strip(), rows[feature].str.strip())
        fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=plain_all(table.columns),
                                   y=plain_all(table.index), colorscale="Blues",
                                   hovertemplate="%{y} · %{x}: %{z} rows<extra></extra>"))
        fig.update_xaxes(type="category")
        fig.update_yaxes(type="category")
    return _layout(fig, f"{y_name} against {x_name}", x_name, y_name, 380)


# ---------------------------------------------------------------- evaluation


def predicted_actual_figure(actual: np.ndarray, predicted: np.ndarray, target: str
                            ) -> go.Figure:
    """Predicted against actual values with the diagonal a perfect model would sit on."""
    index = _even_sample(len(actual))
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    fig = go.Figure([
        go.Scattergl(x=actual[index], y=predicted[index], mode="markers", name="test rows",
                     marker={"size": 6, "opacity": 0.6, "color": "#636EFA"},
                     customdata=index,
                     hovertemplate="row %{customdata}: actual %{x:.4g}, predicted "
                                   "%{y:.4g}<extra></extra>"),
        go.Scatter(x=[low, high], y=[low, high], mode="lines", name="perfect",
                   line={"color": "#EF553B", "dash": "dash"}, hoverinfo="skip")])
    name = plain(target)
    return _layout(fig, f"Predicted against actual {name} (test rows)", f"actual {name}",
                   f"predicted {name}", 420)


def residuals_figure(actual: np.ndarray, predicted: np.ndarray, target: str) -> go.Figure:
    """Residuals (actual − predicted) against the prediction: a pattern means bias."""
    residuals = actual - predicted
    index = _even_sample(len(actual))
    fig = go.Figure([
        go.Scattergl(x=predicted[index], y=residuals[index], mode="markers",
                     marker={"size": 6, "opacity": 0.6, "color": "#00CC96"},
                     hovertemplate="predicted %{x:.4g}: off by %{y:.4g}<extra></extra>"),
        go.Scatter(x=[float(predicted.min()), float(predicted.max())], y=[0, 0], mode="lines",
                   line={"color": "#888", "dash": "dot"}, hoverinfo="skip")])
    name = plain(target)
    return _layout(fig, "Residuals (actual − predicted)", f"predicted {name}",
                   "actual − predicted", 420)


def curve_figure(x: np.ndarray, y: np.ndarray, title: str, x_title: str, y_title: str,
                 diagonal: bool, marker: tuple[float, float] | None = None) -> go.Figure:
    """A ROC or precision–recall curve, with a dot where the chosen threshold sits."""
    traces = [go.Scatter(x=x, y=y, mode="lines", line={"color": "#636EFA", "width": 2},
                         hovertemplate=f"{x_title} %{{x:.3f}}, {y_title} %{{y:.3f}}"
                                       "<extra></extra>")]
    if diagonal:
        traces.append(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", hoverinfo="skip",
                                 line={"color": "#888", "dash": "dot"}))
    if marker is not None:
        traces.append(go.Scatter(x=[marker[0]], y=[marker[1]], mode="markers",
                                 marker={"size": 12, "color": "#EF553B"},
                                 hovertemplate="this threshold<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_xaxes(range=[0, 1.01])
    fig.update_yaxes(range=[0, 1.01])
    return _layout(fig, title, x_title, y_title, 380)
