"""Names are checked once (dashcore.text) and shown as literal text everywhere: Markdown on
the pages (views.common.text) and Plotly figures (dashcore.charts.text).

The Markdown checks render with markdown-it (CommonMark, raw HTML on: stricter than
Streamlit, which drops raw HTML) and compare what a reader would see with the name."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from dashcore.charts.text import plain
from dashcore.charts.training import overlay_figure
from dashcore.errors import UserError
from dashcore.text import check_name
from views.common.text import WORD_JOINER, literal

HOSTILE = [
    "**IMPORTANT** session expired: [sign in](http://evil.example/login)",
    "<img src=http://evil.example/pixel.png>",
    "![x](http://evil.example/i.png) <http://evil.example>",
    "# heading - list * item > quote | table | `code` ~~strike~~",
    ":red[alarm] :material/warning: $x^2$ \\*escaped\\* &amp; &lt;b&gt;",
    "see https://evil.example/login, www.evil.example or mail admin@evil.example",
    "<a href='http://evil.example'>click</a> 100%{y} %{x}",
    "1. numbered   _under_ {braces} [brackets] (parens) !bang",
]


# The patterns mdast-util-gfm-autolink-literal looks for in text nodes (web, www, e-mail).
_GFM_AUTOLINK = re.compile(r"(?i)(https?|ftp)://|\bwww\.|[-.+\w]@[-\w]+\.")


def _rendered_text(markdown: str) -> str:
    """What a reader sees: the rendered HTML with its tags removed, entities decoded."""
    rendered = MarkdownIt("commonmark", {"html": True}).render(markdown)
    assert "<img" not in rendered and "<a " not in rendered, rendered
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
    # GitHub-flavoured Markdown (Streamlit's) links bare addresses found in the final text:
    assert not _GFM_AUTOLINK.search(text), text
    return text.replace(WORD_JOINER, "")  # invisible: the reader sees the typed characters


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_reads_as_its_own_characters_in_markdown(name: str) -> None:
    assert _rendered_text(literal(name)) == name
    assert _rendered_text(f"#### {literal(name)}") == name  # as the /models heading uses it


def test_without_escaping_the_same_names_become_links_images_and_headings() -> None:
    rendered = MarkdownIt("commonmark", {"html": True}).render(HOSTILE[0] + "\n\n" + HOSTILE[1])
    assert "<a href" in rendered and "<img" in rendered  # the check above can fail


def test_a_line_break_in_shown_text_cannot_start_a_heading() -> None:
    assert "\n" not in literal("ok\n# IMPORTANT")
    assert _rendered_text(literal("ok\n# IMPORTANT")) == "ok # IMPORTANT"


@pytest.mark.parametrize("name", HOSTILE)
def test_plotly_text_escapes_tags_entities_and_template_placeholders(name: str) -> None:
    shown = plain(name)
    assert "<" not in shown and ">" not in shown and "%{" not in shown
    assert html.unescape(shown) == name  # Plotly decodes the entities when it draws


def test_a_run_name_in_the_overlay_legend_and_hover_is_plain_text() -> None:
    name = "<a href='http://evil.example'>run</a> %{y}"
    figure = overlay_figure([(name, [{"epoch": 1, "x": 1, "val_accuracy": 0.9}])])
    trace = figure.data[0]
    assert trace.name == plain(name) and "<a" not in trace.name
    assert "<a" not in trace.hovertemplate and "%{y}</a>" not in trace.hovertemplate


@pytest.mark.parametrize(("text", "found"), [
    ("ok\n# IMPORTANT", "a line break at position 3"),
    ("ok\r\nx", "a line break"),
    ("ok\u2028x", "a line break"),
    ("a\x00b", "a NUL character"),
    ("a\x1bb", "a control character (U+001B)"),
    ("invoice\u202egpj.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("a\u2066b", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ("a\u200fb", "U+200F RIGHT-TO-LEFT MARK"),
])
def test_names_with_line_breaks_control_or_direction_characters_are_refused(
        text: str, found: str) -> None:
    with pytest.raises(UserError, match="A model name may not contain") as caught:
        check_name("model", text)
    assert found in str(caught.value)


def test_names_are_stripped_and_bounded() -> None:
    assert check_name("run", "  CNN v2 \t") == "CNN v2"
    assert check_name("run", "x" * 80) == "x" * 80
    with pytest.raises(UserError, match="needs 1 to 80 characters; got 81"):
        check_name("run", "x" * 81)
    with pytest.raises(UserError, match="An architecture name needs 1 to 60"):
        check_name("architecture", "   ", 60)
    with pytest.raises(UserError, match="must be text; got int"):
        check_name("user", 7)


def test_names_in_other_scripts_and_emoji_are_welcome() -> None:
    for name in ("Ziffern-Modell ü", "数字モデル", "نموذج الأرقام", "CNN 🚀 v2"):
        assert check_name("model", name) == name
