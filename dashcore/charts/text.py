"""Text from people inside Plotly figures, shown as the characters it is.

Plotly renders legend names, titles, tick labels, annotations and hover text as a small
HTML dialect (``<a href>``, ``<b>``, ``<br>``) and fills ``%{...}`` placeholders in hover
templates. A run named ``<a href="http://elsewhere">click</a>`` would be a link in every
viewer's chart legend. :func:`plain` escapes the characters Plotly interprets; Plotly turns
the entities back into the literal characters when it draws.

Example:
    >>> plain("<b>5%</b> & more")
    '&lt;b&gt;5&#37;&lt;/b&gt; &amp; more'
"""

from __future__ import annotations

from collections.abc import Iterable

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;",
                          "\n": " ", "\r": " "})


def plain(text: object) -> str:
    """``text`` escaped for Plotly: HTML tags, entities and hover-template placeholders."""
    return str(text).translate(_ESCAPES)


def plain_all(texts: Iterable[object]) -> list[str]:
    """:func:`plain` of each item (class names for tick labels and categories)."""
    return [plain(text) for text in texts]
