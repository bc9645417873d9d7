"""Plotly diagram of a layer stack: the data flowing from the input down to the classes.

Each layer is a bar centred on the axis whose width grows with the number of values it
outputs (log scale, so 21,632 and 10 both stay readable): a CNN shows the data widening
into feature maps and narrowing through pooling to one probability per class.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from dashcore.charts.text import plain
from dashcore.models.builder import ModelSummary

# One colour per layer family, so a stack's structure shows at a glance.
LAYER_COLOURS: dict[str, str] = {
    "Input": "#9e9e9e",
    "Dense": "#1f77b4",
    "Conv2D": "#ff7f0e",
    "MaxPooling2D": "#2ca02c",
    "Flatten": "#8c564b",
    "Dropout": "#c7c7c7",
    "BatchNormalization": "#bcbd22",
    "LSTM": "#9467bd",
    "GRU": "#9467bd",
    "Reshape": "#17becf",
}


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def layer_stack_figure(summary: ModelSummary, height_per_layer: int = 38) -> go.Figure:
    """The stack from input (top) to output (bottom), one centred bar per layer.

    Each bar is labelled with its layer on the left and its output shape inside; hover shows
    the number of values and parameters.

    Args:
        summary: from :func:`dashcore.models.summarize`.
        height_per_layer: pixels per bar. Defaults to 38.
    """
    labels = ["Input"] + [f"{row.number}. {plain(row.description)}" for row in summary.rows]
    types = ["Input"] + [row.type for row in summary.rows]
    shapes = [summary.input_shape] + [row.output_shape for row in summary.rows]
    params = [0] + [row.params for row in summary.rows]
    texts = [_dims(shape) for shape in shapes]
    widths = [1.0 + math.log10(max(math.prod(shape), 1)) for shape in shapes]
    fig = go.Figure(go.Bar(
        y=labels, x=widths, base=[-w / 2 for w in widths], orientation="h",
        marker={"color": [LAYER_COLOURS.get(t, "#7f7f7f") for t in types],
                "line": {"color": "white", "width": 1}},
        text=texts, textposition="inside", insidetextanchor="middle",
        textfont={"color": "#111111"}, opacity=0.85,
        customdata=[[f"{math.prod(s):,}", f"{p:,}"] for s, p in zip(shapes, params, strict=True)],
        hovertemplate="<b>%{y}</b><br>output %{text}: %{customdata[0]} values"
                      "<br>%{customdata[1]} parameters<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(visible=False, range=[-max(widths) / 2 - 0.2, max(widths) / 2 + 0.2])
    fig.update_layout(
        title=f"{plain(summary.name)}: {summary.total_params:,} parameters",
        height=80 + height_per_layer * len(labels), bargap=0.15, showlegend=False,
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, uniformtext={"minsize": 9, "mode": "show"},
    )
    return fig
