"""/draw in AppTest: nobody can draw on the canvas here, so drawings are handed to the page
through its override key, exactly as the canvas would return them (RGBA arrays)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashcore.datasets import drawings
from dashcore.inference import predictor
from dashcore.models import registry
from dashcore.models.builder import build_model
from dashcore.models.presets import get_preset
from tests.helpers.pages import ONE, ZERO, canvas_with, open_draw


@pytest.fixture(autouse=True)
def _fresh_models():
    predictor.clear_cache()
    yield
    predictor.clear_cache()


def builtin_label() -> str:
    """The shipped model as /draw's picker names it: its card's name and test accuracy."""
    card = json.loads(registry.builtin_paths()[1].read_text("utf-8"))
    return f"{card['name']} · {card['test_accuracy']:.1%} on test (built in)"


def texts(app: AppTest) -> str:
    parts = [e.value for e in (*app.subheader, *app.markdown, *app.info, *app.success,
                               *app.caption, *app.error)]
    return "\n".join(str(p) for p in parts)


def test_a_blank_canvas_says_draw_a_digit_and_never_guesses() -> None:
    app = open_draw()
    assert app.subheader[0].value == "Draw a digit"
    assert "Prediction" not in texts(app)
    assert not app.get("plotly_chart")


def test_on_a_fresh_install_the_picker_offers_the_builtin_model_and_selects_it() -> None:
    app = open_draw()
    picker = app.selectbox(key="draw_model")
    assert picker.options == [builtin_label()]
    assert picker.options[0].startswith("Default model (Best CNN, canvas-ready, shipped) · 99.")
    assert picker.value == registry.BUILTIN_ID


def test_a_drawn_one_is_predicted_with_its_probabilities_and_what_the_model_sees() -> None:
    app = open_draw(ONE)
    assert app.subheader[0].value.startswith("Prediction: 1 (")
    assert len(app.get("plotly_chart")) == 1
    assert "What the model sees" in texts(app)
    assert len(app.get("image")) == 1


def test_specks_alone_still_say_draw_a_digit() -> None:
    specks = canvas_with(lambda d: [d.point(p, fill="white") for p in [(10, 10), (200, 90)]])
    app = open_draw(specks)
    assert app.subheader[0].value == "Draw a digit"


def test_save_as_example_adds_the_drawing_with_the_label_the_user_gives(settings) -> None:
    app = open_draw(ZERO)
    app.selectbox(key="draw_label").select("6")  # the person says it was a 6
    app.button[0].click().run()  # the form's "Save as example"
    assert "now holds 1 drawing" in texts(app)
    saved = drawings.load_drawings(settings)
    assert saved.y_test.tolist() == [6]
    assert saved.x_test[0].shape == (28, 28)
    # Pressing it again for the same drawing does not add a duplicate.
    app.button[0].click().run()
    assert "already saved" in texts(app)
    assert drawings.count_drawings(settings) == 1


def test_a_drawing_can_be_saved_under_a_class_name_of_ones_own(settings) -> None:
    app = open_draw(ZERO)
    app.text_input(key="draw_new_class").set_value("circle")
    app.button[0].click().run()
    assert "Saved as 'circle'" in texts(app)
    assert [d.name for d in drawings.list_drawings(settings)] == ["circle"]
    app.run()
    assert "circle" in app.selectbox(key="draw_label").options
    assert any(t.value == "Your drawings per class: circle 1" for t in app.text)


def test_a_class_name_with_a_control_character_is_refused_with_its_sentence(settings) -> None:
    app = open_draw(ZERO)
    app.text_input(key="draw_new_class").set_value("a\u202eb")
    app.button[0].click().run()
    assert "invisible or control character" in app.error[0].value
    assert drawings.count_drawings(settings) == 0


def test_the_most_accurate_saved_model_becomes_the_default_and_others_can_be_compared(
        settings) -> None:
    import keras

    keras.utils.set_random_seed(0)
    card = {"name": "Tiny dense", "dataset": "MNIST", "input_shape": [28, 28, 1],
            "num_classes": 10, "test_accuracy": 0.999}  # above the shipped model's
    model = build_model(get_preset("Dense 64"), settings.limits.max_params)
    entry = registry.save_model(model, card, settings)
    app = open_draw(ONE)
    assert app.selectbox(key="draw_model").value == entry.model_id
    app.multiselect(key="draw_compare").select(registry.BUILTIN_ID).run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 3  # the main chart plus two side by side
    assert "Default model (Best CNN, canvas-ready, shipped)" in texts(app)


def test_an_uploaded_model_is_not_offered_for_drawing_and_the_page_says_why(settings) -> None:
    card = {"name": "Someone's upload", "dataset": "MNIST", "input_shape": [28, 28, 1],
            "num_classes": 10, "test_accuracy": 0.999, "source": "uploaded", "owner": "ann"}
    registry.save_model(build_model(get_preset("Dense 64"), settings.limits.max_params), card,
                        settings=settings)
    app = open_draw(ONE)
    assert not app.exception
    assert app.selectbox(key="draw_model").options == [builtin_label()]
    assert "Uploaded models are not offered for drawing" in texts(app)



def test_a_model_is_sure_only_at_the_threshold_its_own_card_gives(settings) -> None:
    import keras

    keras.utils.set_random_seed(0)
    card = {"name": "Strict dense", "dataset": "MNIST", "input_shape": [28, 28, 1],
            "num_classes": 10, "test_accuracy": 0.999, "calibration": {"threshold": 1.0}}
    registry.save_model(build_model(get_preset("Dense 64"), settings.limits.max_params), card,
                        settings=settings)  # untrained: never 100%
    app = open_draw(ONE)
    assert "For this model an answer counts as sure at 100% confidence or more" in texts(app)
    assert app.subheader[0].value.startswith("Not sure: maybe ")
    assert "The model's best guess is under 100%" in texts(app)
    app.selectbox(key="draw_model").select(registry.BUILTIN_ID).run()
    assert "counts as sure at 75% confidence" in texts(app)  # the shipped model's own card
    assert app.subheader[0].value.startswith("Prediction: 1 (")
