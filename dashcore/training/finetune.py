"""Fine-tuning: start a run from a saved model's weights instead of fresh ones.

The starting model must read the dataset's images and name as many classes (a digit model
fine-tuned on "Your drawings", say). Optionally only its last N layers with weights train;
the others are frozen, which keeps what it learned from the first dataset and needs less
data. The new model's card names its parent and reports its accuracy before fine-tuning.
"""

from __future__ import annotations

from typing import Any

from dashcore.errors import UserError
from dashcore.models.cards import ModelCard
from dashcore.settings import Settings


def _shape(shape: Any) -> str:
    return "×".join(str(d) for d in shape)


def check_start_model(model_id: str, input_shape: tuple[int, ...], num_classes: int,
                      dataset: str, settings: Settings) -> dict[str, Any]:
    """The starting model's card, once its input and classes fit the dataset.

    Cheap (reads the card only), so /train checks it before queueing.

    Raises:
        NotFoundError: no such model.
        UserError: its input shape or number of classes does not fit the dataset.
    """
    from dashcore.models.registry import read_card

    card_dict = read_card(model_id, settings)
    card = ModelCard.from_dict(card_dict)
    want = tuple(int(d) for d in input_shape)
    if tuple(card.input_shape) != want:
        raise UserError(f"Model {card.name!r} reads {_shape(card.input_shape)} images, but "
                        f"{dataset} has {_shape(want)} images: pick a model trained on images "
                        "of the same size, or another dataset.")
    if card.num_classes != num_classes:
        raise UserError(f"Model {card.name!r} tells {card.num_classes} classes apart, but "
                        f"{dataset} (with the classes picked) has {num_classes}: pick the same "
                        "classes, or start from fresh weights.")
    return card_dict


def load_start_model(model_id: str, input_shape: tuple[int, ...], num_classes: int,
                     dataset: str, trainable_last: int, settings: Settings
                     ) -> tuple[Any, dict[str, Any]]:
    """The starting model (uncompiled) with all but the last ``trainable_last`` weighted
    layers frozen, and its card."""
    from dashcore.models.registry import get_entry, load_keras_model

    card = check_start_model(model_id, input_shape, num_classes, dataset, settings)
    model = load_keras_model(get_entry(model_id, settings).path)
    freeze_all_but_last(model, trainable_last)
    return model, card


def freeze_all_but_last(model: Any, trainable_last: int) -> int:
    """Freeze every layer with weights except the last ``trainable_last`` (0: none frozen).

    Returns how many layers were frozen.

    Raises:
        UserError: ``trainable_last`` is more than the model's layers with weights.
    """
    weighted = [layer for layer in model.layers if layer.weights]
    if trainable_last > len(weighted):
        raise UserError(f"The model has {len(weighted)} layers with weights; "
                        f"{trainable_last} cannot be trained: use a number from 0 to "
                        f"{len(weighted)}.")
    frozen = weighted[:-trainable_last] if trainable_last else []
    for layer in frozen:
        layer.trainable = False
    return len(frozen)


def mnist_test_accuracy(model: Any) -> float | None:
    """Accuracy on MNIST's 10,000 test digits, for a digit model (else None).

    Reported on a fine-tuned model's card: what fitting new data cost (or gained) on MNIST.
    """
    import numpy as np

    from dashcore.datasets.catalog import load_mnist
    from dashcore.datasets.prepare import to_model_input

    if tuple(model.input_shape[1:]) != (28, 28, 1) or int(model.output_shape[-1]) != 10:
        return None
    mnist = load_mnist()
    probs = np.asarray(model.predict(to_model_input(mnist.x_test), batch_size=512, verbose=0))
    return float((probs.argmax(1) == mnist.y_test).mean())
