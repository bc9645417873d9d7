"""A name one person types is read by others as the characters it is: Markdown, HTML and
template syntax in a model or run name render literally on /models, /draw and /train.

What the page sends is rendered here with markdown-it (CommonMark with raw HTML on, which is
stricter than Streamlit); a rendered link or image anywhere fails the test.
"""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashcore.charts.text import plain
from dashcore.errors import UserError
from dashcore.inference import predictor
from dashcore.models import registry
from dashcore.models.builder import build_model
from dashcore.models.presets import get_preset
from tests.helpers import REPO_ROOT
from tests.helpers.pages import ONE, figure_of, finished_run, open_draw, open_train
from views.common.text import WORD_JOINER

# Under 80 characters, accepted by dashcore: Markdown emphasis, a link, an HTML image.
HOSTILE = "**URGENT** [sign in](http://evil.example/a) <img src=http://evil.example/p>"


def _shown(app: AppTest) -> list[str]:
    """The Markdown source of every text element the page sent."""
    elements = (*app.title, *app.subheader, *app.markdown, *app.caption, *app.info,
                *app.success, *app.warning, *app.error)
    return [str(e.value) for e in elements]


def _reads(markdown: str) -> str:
    rendered = MarkdownIt("commonmark", {"html": True}).render(markdown)
    assert "<img" not in rendered and "<a " not in rendered, rendered
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
    return text.replace(WORD_JOINER, "")  # invisible; it keeps bare addresses unlinked


@pytest.fixture
def hostile_model(settings) -> registry.ModelEntry:
    import keras

    keras.utils.set_random_seed(0)
    entry = registry.save_model(build_model(get_preset("Dense 64"),
                                            max_params=settings.limits.max_params),
                                {"name": "tmp", "dataset": "MNIST", "input_shape": [28, 28, 1],
                                 "num_classes": 10, "test_accuracy": 0.999}, settings=settings)
    registry.rename_model(entry.model_id, HOSTILE, settings=settings)
    predictor.clear_cache()
    yield registry.get_entry(entry.model_id, settings=settings)
    predictor.clear_cache()


def test_a_model_name_with_a_newline_or_direction_override_is_refused(hostile_model,
                                                                      settings) -> None:
    for bad in ("fine\n# IMPORTANT: session expired", "fine\u202etxt.exe"):
        with pytest.raises(UserError):
            registry.rename_model(hostile_model.model_id, bad, settings=settings)
    assert registry.read_card(hostile_model.model_id, settings=settings)["name"] == HOSTILE


def test_models_shows_the_name_literally(hostile_model) -> None:
    app = AppTest.from_file(str(REPO_ROOT / "views" / "models.py"), default_timeout=120).run()
    assert not app.exception, app.exception
    readable = [_reads(text) for text in _shown(app)]  # fails on any rendered link or image
    # the model's heading (first line; its badges follow), character for character
    assert any(text.split("\n")[0] == HOSTILE for text in readable)


def test_draw_shows_the_name_literally_in_the_picker_and_side_by_side(hostile_model) -> None:
    app = open_draw(ONE)
    assert app.selectbox(key="draw_model").value == hostile_model.model_id
    assert any(HOSTILE in option for option in app.selectbox(key="draw_model").options)
    app.multiselect(key="draw_compare").select(registry.BUILTIN_ID).run()
    assert not app.exception, app.exception
    readable = [_reads(text) for text in _shown(app)]
    assert any(HOSTILE in text for text in readable)  # the side-by-side title


def test_train_legend_and_hover_show_a_run_name_as_plain_text() -> None:
    finished_run("a", HOSTILE + " %{y}")
    finished_run("b", "second")
    app = open_train()
    overlay = figure_of(app, "overlay_chart")
    names = {trace["name"] for trace in overlay["data"]}
    assert plain(HOSTILE + " %{y}") in names
    for trace in overlay["data"]:
        assert "<a" not in trace["name"] and "<img" not in trace["name"]
        assert "<img" not in trace["hovertemplate"] and "%{y}<" not in trace["hovertemplate"]
    for text in _shown(app):
        _reads(text)
