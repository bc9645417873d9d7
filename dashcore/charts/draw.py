"""Plotly figures for /draw: the ten class probabilities, and the image the model sees."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dashcore.charts.text import plain, plain_all
from dashcore.inference.predictor import percent

TOP_COLOUR = "#1f77b4"  # the predicted class
OTHER_COLOUR = "#aec7e8"  # every other class
UNSURE_COLOUR = "#ff7f0e"  # the top class when the model is not sure


def probability_figure(probabilities: Sequence[float], class_names: Sequence[str],
                       threshold: float | None = None, title: str = "",
                       height: int = 260) -> go.Figure:
    """A bar per class, probability 0–100%, the best one highlighted.

    Args:
        probabilities: one value per class, summing to 1.
        class_names: the bar labels (digits for MNIST).
        threshold: when given, a dashed line at the "sure" level; a top bar under it is
            drawn orange, so an unsure answer looks unsure.
        title: optional figure title (the model's name when comparing models).
        height: figure height in pixels.
    """
    probs = np.asarray(probabilities, dtype=float)
    best = int(np.argmax(probs)) if probs.size else -1
    unsure = threshold is not None and probs.size > 0 and probs[best] < threshold
    colours = [(UNSURE_COLOUR if unsure else TOP_COLOUR) if i == best else OTHER_COLOUR
               for i in range(len(probs))]
    names = plain_all(class_names)
    fig = go.Figure(go.Bar(
        x=names, y=probs * 100, marker_color=colours,
        text=[percent(p) if p >= 0.005 else "" for p in probs], textposition="outside",
        hovertemplate="class %{x}: %{y:.1f}%<extra></extra>", cliponaxis=False,
    ))
    if threshold is not None:
        fig.add_hline(y=threshold * 100, line_dash="dash", line_color="#888",
                      annotation_text="sure", annotation_position="top left")
    fig.update_xaxes(type="category", title=None)
    fig.update_yaxes(range=[0, 110], title="probability (%)", ticksuffix="%",
                     tickvals=[0, 25, 50, 75, 100])
    fig.update_layout(height=height, margin={"l": 50, "r": 10, "t": 40 if title else 15,
                                             "b": 30},
                      title=plain(title) if title else None, showlegend=False,
                      dragmode=False)
    return fig


def model_view(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """The 28×28 model input enlarged with square pixels (uint8), for ``st.image``.

    Nearest-neighbour enlargement shows exactly what the model sees: no smoothing that
    would hide how coarse 28×28 really is.
    """
    x = np.asarray(image, dtype=np.float32)
    pixels = np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    return np.kron(pixels, np.ones((scale, scale), dtype=np.uint8))
