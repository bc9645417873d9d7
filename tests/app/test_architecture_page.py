"""/architecture through the router: presets, the form-based builder, errors, the hand-off."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashcore.models.presets import get_preset
from tests.helpers.pages import open_page


@pytest.fixture
def app() -> AppTest:
    """The app opened on /architecture (it starts from the "Dense 64" preset)."""
    return open_page("architecture")


def totals(app: AppTest) -> list[str]:
    """Total params, then the trainable / non-trainable line, as the page shows them."""
    lines = [m.value for m in app.markdown if m.value.startswith("Trainable params")]
    return [metric.value for metric in app.metric] + lines


def press(app: AppTest, action: str, layer: int) -> None:
    """Press a layer's ↑/↓/✎/✕ button (``action`` up/down/edit/remove; ``layer`` 0-based)."""
    app.button(key=f"{action}_{app.session_state['arch_rev']}_{layer}").click().run()
    assert not app.exception


def test_picking_the_cnn_preset_shows_its_34826_parameters(app: AppTest) -> None:
    app.radio(key="arch_start").set_value("CNN 32-64").run()
    assert totals(app) == ["34,826",
                           "Trainable params: **34,826** · Non-trainable params: **0**"]
    table = app.table[0].value
    assert list(table["Output shape"])[0] == "(None, 26, 26, 32)"
    assert len(app.get("plotly_chart")) == 1


def test_the_chosen_model_is_stored_for_the_train_page(app: AppTest) -> None:
    app.radio(key="arch_start").set_value("CNN 32-64").run()
    assert app.session_state["arch_spec"] == get_preset("CNN 32-64").to_dict()


def test_removing_and_adding_a_layer_changes_the_total(app: AppTest) -> None:
    assert totals(app)[0] == "50,890"
    press(app, "remove", 1)  # Dense 64: Flatten → Dense(10, softmax) is left
    assert totals(app)[0] == "7,850"

    rev = app.session_state["arch_rev"]
    app.selectbox(key=f"add_type_{rev}").set_value("Dense").run()
    app.number_input(key=f"add_{rev}_units").set_value(32)  # a form sends on submit
    app.button(key=f"FormSubmitter:add_form_{rev}-Add layer").click().run()
    assert not app.exception
    assert totals(app)[0] == "25,450"  # 784·32+32 + 32·10+10, inserted before the output
    assert [layer["type"] for layer in app.session_state["arch_spec"]["layers"]] == [
        "Flatten", "Dense", "Dense"]


def test_editing_a_layer_in_its_form_changes_the_total(app: AppTest) -> None:
    press(app, "edit", 1)
    rev = app.session_state["arch_rev"]
    app.number_input(key=f"edit_{rev}_1_field_units").set_value(128)
    app.button(key=f"FormSubmitter:edit_form_{rev}_1-Save changes").click().run()
    assert totals(app)[0] == "101,770"
    assert "Dense 64 (edited)" in app.caption[0].value


def test_moving_a_conv_below_the_flatten_shows_the_error_with_the_fix(app: AppTest) -> None:
    app.radio(key="arch_start").set_value("CNN 32-64").run()
    press(app, "down", 2)  # Conv2D(64) below MaxPooling2D
    press(app, "down", 3)  # ... and below the Flatten
    assert [e.value for e in app.error] == [
        "Layer 5 (Conv2D) needs an image (height × width × channels), but after layer 4 "
        "(Flatten) the data is a flat vector of 1,152 values. Move the Conv2D above the "
        "Flatten (layer 4), or remove the Flatten."]
    assert not app.metric  # no summary for a stack that cannot be built
    press(app, "up", 4)
    assert not app.error and totals(app)[0] != "34,826"


def test_starting_empty_explains_the_one_missing_flatten(app: AppTest) -> None:
    app.radio(key="arch_start").set_value("Empty (start from scratch)").run()
    assert "Add a Flatten above the Dense" in app.error[0].value



def test_building_for_a_colour_dataset_fits_the_input_and_says_when_a_preset_fits_poorly(
        app: AppTest) -> None:
    from dashcore.datasets import image_folders, zip_import
    from dashcore.settings import get_settings
    from tests.helpers.datasets import shapes_zip

    zip_import.import_zip("shapes", shapes_zip(), image_folders.ImportOptions(side=32),
                             get_settings().ensure_dirs())
    app.run()
    app.selectbox(key="arch_dataset").set_value("upload:shapes").run()
    assert app.session_state["arch_spec"]["input_shape"] == [32, 32, 3]
    assert app.session_state["arch_spec"]["num_classes"] == 3
    assert any("input 32×32×3 · 3 classes" in c.value for c in app.caption)
    app.radio(key="arch_start").set_value("LSTM rows").run()
    assert app.session_state["arch_spec"]["layers"][0]["target_shape"] == [32, 96]
    notes = [info.value for info in app.info]
    assert any("reads an image row by row" in note and "96 values" in note for note in notes)
    assert not app.error
