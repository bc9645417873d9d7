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
    layout: dict = {
        "xaxis": {"type": "category", "title": {"text": None}},
        "yaxis": {"range": [0, 110], "title": {"text": "probability (%)"}, "ticksuffix": "%",
                  "tickvals": [0, 25, 50, 75, 100]},
        "height": height, "margin": {"l": 50, "r": 10, "t": 40 if title else 15, "b": 30},
        "title": {"text": plain(title) if title else None}, "showlegend": False, "dragmode": False}
    if threshold is not None:  # what fig.add_hline(...) gives, without its per-call cost
        level = threshold * 100
        layout["shapes"] = [{"type": "line", "x0": 0, "x1": 1, "xref": "x domain",
                             "y0": level, "y1": level, "yref": "y",
                             "line": {"color": "#888", "dash": "dash"}}]
        layout["annotations"] = [{"text": "sure", "showarrow": False, "x": 0,
                                  "xanchor": "left", "xref": "x domain", "y": level,
                                  "yanchor": "bottom", "yref": "y"}]
    # One go.Figure(data, layout) call: /draw builds this on every stroke of every person,
    # and add_hline/update_* calls cost several times the figure itself.
    fig = go.Figure(data=[{
        "type": "bar", "x": names, "y": probs * 100, "marker": {"color": colours},
        "text": [percent(p) if p >= 0.005 else "" for p in probs], "textposition": "outside",
        "hovertemplate": "class %{x}: %{y:.1f}%<extra></extra>", "cliponaxis": False,
    }], layout=layout)
    return fig


def model_view(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """The 28×28 model input enlarged with square pixels (uint8), for ``st.image``.

    Nearest-neighbour enlargement shows exactly what the model sees: no smoothing that
    would hide how coarse 28×28 really is.
    """
    x = np.asarray(image, dtype=np.float32)
    pixels = np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    return np.kron(pixels, np.ones((scale, scale), dtype=np.uint8))
