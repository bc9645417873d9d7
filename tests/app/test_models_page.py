"""/models lists saved models with their cards and lets the user rename, delete (after a
confirmation) and pick the default for /draw; a broken entry shows an error on its own row."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashcore.models import registry
from dashcore.settings import get_settings
from tests.helpers.pages import open_page


@pytest.fixture
def seeded(settings) -> registry.ModelEntry:
    """One small model in the registry, as training would leave it."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    spec = {"name": "Tiny dense", "layers": [{"type": "Flatten"},
                                             {"type": "Dense", "units": 10}]}
    return registry.save_model(model, {"name": "Seed dense", "dataset": "MNIST", "spec": spec,
                                       "test_accuracy": 0.9234, "owner": None,
                                       "source": "trained", "epochs_done": 2,
                                       "hyperparameters": {"optimizer": "adam",
                                                           "batch_size": 128}}, settings=settings)


def _open() -> AppTest:
    return open_page("models")


def _text(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [e.value for e in app.error]
    parts += [w.value for w in app.warning] + [s.value for s in app.success]
    return "\n".join(str(p) for p in parts)


def test_without_saved_models_the_page_says_how_to_get_one() -> None:
    app = _open()
    assert "No saved models yet" in app.info[0].value
    assert app.button(key="model-upload-go").disabled  # nothing uploaded yet


def test_a_saved_model_is_listed_with_its_card(seeded: registry.ModelEntry) -> None:
    text = _text(_open())
    assert "Seed dense" in text and "MNIST" in text and "Tiny dense: Flatten → Dense" in text
    assert "7,850" in text and "92.34%" in text
    assert "optimizer adam, batch size 128, 2 epochs run" in text


def test_renaming_a_model_changes_its_card_and_the_list(seeded: registry.ModelEntry,
                                                        settings) -> None:
    app = _open()
    app.text_input(key=f"rename-{seeded.model_id}").set_value("Better name")
    app.button(key=f"rename-save-{seeded.model_id}").click().run()
    assert registry.read_card(seeded.model_id, settings=settings)["name"] == "Better name"
    assert "Renamed 'Seed dense' to 'Better name'" in app.success[0].value
    assert "#### Better name" in _text(app)


def test_delete_asks_first_and_cancel_keeps_the_model(seeded: registry.ModelEntry,
                                                      settings) -> None:
    app = _open()
    app.button(key=f"delete-{seeded.model_id}").click().run()
    assert "Delete 'Seed dense' permanently?" in app.warning[0].value
    assert registry.get_entry(seeded.model_id, settings=settings)  # not deleted by the first click
    app.button(key=f"delete-no-{seeded.model_id}").click().run()
    assert not app.warning and registry.get_entry(seeded.model_id, settings=settings)


def test_confirming_delete_removes_the_model(seeded: registry.ModelEntry, settings) -> None:
    app = _open()
    app.button(key=f"delete-{seeded.model_id}").click().run()
    app.button(key=f"delete-yes-{seeded.model_id}").click().run()
    assert "Deleted 'Seed dense'" in app.success[0].value
    assert registry.list_models(include_builtin=False, settings=settings) == []
    assert "#### Seed dense" not in _text(app)


def test_marking_a_default_is_what_draw_uses(seeded: registry.ModelEntry, settings) -> None:
    app = _open()
    app.button(key=f"default-{seeded.model_id}").click().run()
    assert registry.default_model_id(settings) == seeded.model_id
    assert "default for /draw" in _text(app)
    assert app.button(key=f"default-{seeded.model_id}").disabled


def test_broken_entries_show_errors_on_their_rows_and_the_rest_works(
        seeded: registry.ModelEntry) -> None:
    models = get_settings().models_dir
    (models / "bad-card.json").write_text("{not json", "utf-8")
    (models / "bad-card.keras").write_bytes(b"irrelevant")
    (models / "bad-file.json").write_text(json.dumps({"name": "Garbage file"}), "utf-8")
    (models / "bad-file.keras").write_bytes(b"not a zip at all")
    app = _open()
    errors = [e.value for e in app.error]
    assert any("bad-card" in e and "card is damaged" in e for e in errors), errors
    assert any("Garbage file" in e and "damaged or truncated" in e for e in errors), errors
    assert "92.34%" in _text(app)  # the good model is still shown in full
    assert app.button(key=f"rename-save-{seeded.model_id}")
    app.button(key="delete-bad-file").click().run()
    app.button(key="delete-yes-bad-file").click().run()
    assert not (models / "bad-file.keras").exists()


def test_the_system_panel_shows_versions_and_keras_settings() -> None:
    import keras

    app = _open()
    text = _text(app)
    assert f"keras: `{keras.__version__}`" in text
    assert "image_data_format: `channels_last`" in text and "floatx: `float32`" in text
    assert "Devices seen" in text and "CPU" in text
    assert "Data directory" in text


def test_the_page_opens_through_the_router() -> None:
    app = open_page("models", check=False)
    assert not app.exception, app.exception
    assert app.title[0].value == "Models"
