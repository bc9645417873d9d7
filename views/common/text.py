"""Text a person typed or uploaded, shown to others exactly as typed.

Streamlit renders the strings given to ``st.markdown``, ``st.caption``, ``st.error`` and
most widget labels as Markdown: a model named ``![x](http://elsewhere/pixel)`` would make
every viewer's browser fetch that address, and ``# Sign in again at …`` would become a
heading. :func:`literal` escapes a piece of user text (and any message that quotes one) so
that it reads as the characters it is; pages wrap every such value with it.

Example:
    >>> literal("**bold** <img src=x>")
    '\\\\*\\\\*bold\\\\*\\\\* \\\\<img src=x\\\\>'
"""

from __future__ import annotations

import re

import streamlit as st

# Characters that open Markdown or HTML anywhere in a line: emphasis and code, links and
# images (``[``), raw HTML and autolinks (``<``), entities (``&``), strikethrough, math and
# e-mail autolinks. Backslash-escaping them is CommonMark's own way to say "literally".
_INLINE = re.compile(r"([\\`*_\[\]<>&~$@])")
# Constructs that only count at the start of a line: headings, lists, quotes, rules.
_LINE_START = re.compile(r"^(\s*\d*)([-+=#>]|(?<=\d)[.)](?=\s|$))")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
# Bare web and e-mail addresses: GitHub-flavoured Markdown links them *after* parsing, from
# the text itself, so escapes cannot stop it. An invisible word joiner (U+2060) before
# "://", after "www" and before "@" does: the reader sees the same characters, unlinked.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(?=://)|(?<=\bwww)(?=\.)|(?=@)")


def literal(text: object) -> str:
    """``text`` escaped for Markdown and HTML, on one line (line breaks become spaces).

    Ordinary sentences stay readable in the source (quotes, commas, colons, parentheses
    and hyphens inside a line need no escape), so messages can still be asserted on.
    """
    shown = _AUTOLINK.sub(WORD_JOINER, _LINE_BREAKS.sub(" ", str(text)))
    shown = _INLINE.sub(r"\\\1", shown)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), shown)


def show_error(error: object) -> None:
    """``st.error`` of a message that may quote user text (a name, a file name)."""
    st.error(literal(error))
