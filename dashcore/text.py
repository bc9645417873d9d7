"""One check for every name a person gives something others will see.

Run, model, dataset, architecture, user and file names all go through :func:`check_name`,
so the same characters are refused everywhere: line breaks (a name that renders as a
paragraph or heading on another person's page), control characters and NUL, and the
bidirectional overrides and isolates that make a name display as something other than
what it is ("exe.txt" shown for "txt.exe"). Showing names as literal text is the pages'
job (``views.common.text``, ``dashcore.charts.text``); this is the first line of defence.

Example:
    >>> check_name("model", "  CNN v2  ")
    'CNN v2'
"""

from __future__ import annotations

import unicodedata

from dashcore.errors import UserError

# Bidirectional embeddings, overrides and isolates, plus the marks that steer them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                          "\u200e\u200f\u061c")
# Line and paragraph separators beyond \n and \r (which are control characters already).
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")


def name_problem(text: str) -> str | None:
    """What is wrong with the characters of a name ('a line break at position 7'), or None."""
    for position, char in enumerate(text, start=1):
        code = f"U+{ord(char):04X}"
        if char in LINE_BREAKS:
            what = "a line break"
        elif char == "\x00":
            what = "a NUL character"
        elif char in BIDI_CONTROLS:
            what = f"a text-direction control ({code} {unicodedata.name(char, '')})".strip()
        elif unicodedata.category(char) == "Cc":
            what = f"a control character ({code})"
        else:
            continue
        return f"{what} at position {position}"
    return None


def check_name(kind: str, text: object, max_len: int = 80) -> str:
    """The name with surrounding whitespace removed, or a :class:`UserError` saying why not.

    Args:
        kind: what is being named, for the message ("model", "run", "file").
        text: the name as typed, uploaded or derived (a file name's stem).
        max_len: most characters allowed after stripping. Defaults to 80.

    Raises:
        UserError: empty, longer than ``max_len``, or holding a line break, a control
            character (NUL included) or a bidirectional override/isolate.
    """
    article = "An" if kind[:1].lower() in "aeio" else "A"  # "a user", "an architecture"
    if not isinstance(text, str):
        raise UserError(f"{article} {kind} name must be text; got {type(text).__name__}.")
    clean = text.strip()
    if not 1 <= len(clean) <= max_len:
        raise UserError(f"{article} {kind} name needs 1 to {max_len} characters; "
                        f"got {len(clean):,}.")
    problem = name_problem(clean)
    if problem:
        raise UserError(f"{article} {kind} name may not contain {problem}: names are shown to "
                        "everyone on one line, exactly as typed. Type it again without that "
                        "character.")
    return clean
