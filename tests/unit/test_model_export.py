"""Downloads: what the models page hands out loads with plain Keras and predicts the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets.catalog import load_mnist
from dashcore.errors import UserError
from dashcore.models import registry
from dashcore.models.export import card_json, download_name, file_problem, h5_bytes, keras_bytes


@pytest.fixture
def saved(settings) -> tuple[registry.ModelEntry, object]:
    """A tiny trained-looking model in the registry, and the in-memory original."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    entry = registry.save_model(model, {"name": "Dense / 10 ../x", "dataset": "MNIST",
                                        "test_accuracy": 0.91}, settings=settings)
    return entry, model


def _images() -> np.ndarray:
    return load_mnist().x_test[:16, :, :, None].astype("float32") / 255.0


@pytest.mark.parametrize(("export", "suffix"), [(keras_bytes, ".keras"), (h5_bytes, ".h5")])
def test_a_download_loads_with_plain_keras_and_predicts_the_same(
        saved, export, suffix: str, tmp_path: Path) -> None:
    import keras

    entry, model = saved
    target = tmp_path / f"downloaded{suffix}"
    target.write_bytes(export(entry))
    loaded = keras.saving.load_model(str(target))  # what a user would type
    x = _images()
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)


def test_the_card_download_is_the_card_as_json(saved) -> None:
    entry, _ = saved
    card = json.loads(card_json(entry))
    assert card["id"] == entry.model_id and card["dataset"] == "MNIST"
    assert card["test_accuracy"] == 0.91 and card["params"] == 7850


def test_download_names_keep_to_safe_characters(saved) -> None:
    entry, _ = saved
    name = download_name(entry, ".h5")
    assert name.endswith(".h5") and "/" not in name and " " not in name
    assert name.startswith("Dense")


def test_a_damaged_model_file_is_reported_and_not_offered(saved) -> None:
    entry, _ = saved
    assert file_problem(entry.path) is None
    entry.path.write_bytes(b"this is not a zip")
    assert "damaged" in file_problem(entry.path)
    with pytest.raises(UserError, match="cannot be downloaded"):
        keras_bytes(entry)
    entry.path.unlink()
    assert "missing" in file_problem(entry.path)
