"""Fine-tuning a saved model on another dataset: better on the new data, MNIST reported,
frozen layers stay as they were, and the card names its parent."""

from __future__ import annotations

import io

import numpy as np
import pytest

from dashcore.datasets.catalog import load_mnist
from dashcore.datasets.uploads import save_uploaded_dataset
from dashcore.errors import UserError
from dashcore.models.registry import get_entry, load_keras_model
from dashcore.training.config import TrainConfig
from dashcore.training.finetune import check_start_model, freeze_all_but_last
from dashcore.training.pipeline import train_in_process

pytestmark = pytest.mark.slow
TINY = {"name": "Tiny dense", "layers": [
    {"type": "Flatten"}, {"type": "Dense", "units": 32, "activation": "relu"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]}
SHIFTED = "upload:Shifted digits"


@pytest.fixture
def parent_and_shifted(settings) -> str:
    """A digit model trained on MNIST, and a dataset of digits moved 7 pixels right and
    down (the MNIST model, which saw only centred digits, reads few of them)."""
    parent = train_in_process(TrainConfig(architecture=TINY, epochs=2, max_train_images=600,
                                          batch_size=32, seed=1), name="MNIST parent",
                              settings=settings)
    mnist = load_mnist()
    buffer = io.BytesIO()
    def shift(x: np.ndarray) -> np.ndarray:
        return np.roll(x, (7, 7), axis=(1, 2))

    np.savez(buffer, x_train=shift(mnist.x_train[1000:1600]), y_train=mnist.y_train[1000:1600],
             x_test=shift(mnist.x_test[:400]), y_test=mnist.y_test[:400])
    save_uploaded_dataset("Shifted digits", buffer.getvalue(), settings=settings)
    return parent.model_id


def test_fine_tuning_raises_accuracy_on_the_new_data_and_reports_mnist(parent_and_shifted,
                                                                       settings):
    tuned = train_in_process(TrainConfig(dataset=SHIFTED, start_model=parent_and_shifted,
                                         epochs=3, max_train_images=600, batch_size=32, seed=2),
                             settings=settings)
    card = tuned.card
    assert card["parent_model"] == parent_and_shifted and card["parent_name"] == "MNIST parent"
    assert card["parent_dataset"] == "MNIST" and card["spec"]["name"] == "Tiny dense"
    print(f"fine-tune: {card['start_test_accuracy']:.3f} -> {card['test_accuracy']:.3f} on "
          f"shifted digits; MNIST test {card['mnist_test_accuracy']:.3f}")
    assert card["test_accuracy"] > card["start_test_accuracy"] + 0.15  # it learned the new data
    assert 0.0 <= card["mnist_test_accuracy"] <= 1.0  # and what that did to MNIST is reported


def test_frozen_layers_keep_the_parents_weights(parent_and_shifted, settings):
    tuned = train_in_process(TrainConfig(dataset=SHIFTED, start_model=parent_and_shifted,
                                         trainable_last=1, epochs=1, max_train_images=200,
                                         batch_size=32, seed=2),
                             settings=settings)
    before = load_keras_model(get_entry(parent_and_shifted, settings=settings).path).get_weights()
    after = load_keras_model(get_entry(tuned.model_id, settings=settings).path).get_weights()
    np.testing.assert_array_equal(after[0], before[0])  # first Dense: frozen
    assert not np.array_equal(after[2], before[2])  # last Dense: trained
    assert tuned.card["trainable_last"] == 1


def test_a_model_that_cannot_read_the_dataset_is_refused_before_training(parent_and_shifted):
    from dashcore.settings import get_settings

    with pytest.raises(UserError, match="tells 10 classes apart, but MNIST"):
        check_start_model(parent_and_shifted, (28, 28, 1), 2, "MNIST", get_settings())
    with pytest.raises(UserError, match="reads 28×28×1 images"):
        check_start_model(parent_and_shifted, (32, 32, 1), 10, "Big", get_settings())


def test_asking_to_train_more_layers_than_there_are_says_how_many(parent_and_shifted, settings):
    model = load_keras_model(get_entry(parent_and_shifted, settings=settings).path)
    with pytest.raises(UserError, match="has 2 layers with weights"):
        freeze_all_but_last(model, 3)
    assert freeze_all_but_last(model, 1) == 1 and not model.layers[1].trainable


def test_the_card_says_where_a_model_came_from() -> None:
    from dashcore.models.cards import ModelCard

    tuned = ModelCard.from_dict({"dataset": "upload:Shifted digits", "test_accuracy": 0.63,
                                 "parent_model": "p-1", "parent_name": "MNIST parent",
                                 "parent_dataset": "MNIST", "start_test_accuracy": 0.025,
                                 "mnist_test_accuracy": 0.417})
    assert tuned.lineage_line() == ("fine-tuned from MNIST parent (trained on MNIST): test "
                                    "accuracy 2.50% → 63.00%, MNIST test 41.70%")
    continued = ModelCard.from_dict({"epochs_done": 3, "continued_from_epoch": 1, "parts": [
        {"epochs": [1, 1], "status": "stopped"}]})
    assert continued.lineage_line() == "trained in parts: epochs 1–1 (stopped), epochs 2–3"
    assert ModelCard.from_dict({}).lineage_line() == "—"
