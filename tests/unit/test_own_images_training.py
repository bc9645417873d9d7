"""Your own images end to end in dashcore: a colour zip and drawn shapes train, evaluate and
predict by class name."""

from __future__ import annotations

import numpy as np

from dashcore.datasets import drawings, image_folders, zip_import
from dashcore.evaluation.runner import evaluate_model
from dashcore.inference.predictor import get_predictor
from dashcore.models import registry
from dashcore.models.cards import ModelCard
from dashcore.models.specs import ModelSpec
from dashcore.settings import get_settings
from dashcore.training.config import TrainConfig
from dashcore.training.pipeline import train_in_process
from tests.helpers.datasets import shapes_zip

SMALL_CNN = ModelSpec(name="Small CNN", layers=[
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()


def test_a_colour_zip_trains_and_evaluates_with_its_class_names() -> None:
    settings = get_settings().ensure_dirs()
    zip_import.import_zip("shapes", shapes_zip(per_class=10), image_folders.ImportOptions(
        side=16), settings)
    outcome = train_in_process(TrainConfig(dataset="upload:shapes", architecture=SMALL_CNN,
                                           epochs=1, batch_size=8, validation_split=0.0,
                                           augment_photo=True), settings=settings)
    assert outcome.status == "completed", outcome.reason
    card = ModelCard.from_dict(outcome.card)
    assert card.input_shape == (16, 16, 3) and card.labels == ("circle", "square", "triangle")
    assert not card.reads_drawings  # a colour model is not offered on /draw
    entry = registry.get_entry(outcome.model_id, settings=settings)
    evaluation = evaluate_model(entry.path, "upload:shapes", "test", settings=settings)
    assert evaluation.predictions.class_names == ("circle", "square", "triangle")
    assert evaluation.predictions.images.shape[1:] == (16, 16, 3)
    assert evaluation.matrix.sum() == 6


def test_drawn_shapes_train_a_model_that_draw_can_use_and_that_answers_with_names(settings) -> None:
    rng = np.random.default_rng(0)
    for _ in range(8):
        for name, side in (("circle", 8), ("square", 14), ("triangle", 20)):
            image = np.zeros((28, 28), np.uint8)
            image[4:4 + side, 4:4 + side] = rng.integers(150, 256, (side, side))
            drawings.save_drawing(image, name, settings=settings)
    outcome = train_in_process(TrainConfig(dataset="Your drawings", architecture=SMALL_CNN,
                                           epochs=1, batch_size=4, validation_split=0.0),
                               settings=settings)
    assert outcome.status == "completed", outcome.reason
    card = ModelCard.from_dict(outcome.card)
    assert card.reads_drawings and card.labels == ("circle", "square", "triangle")
    probabilities = get_predictor(registry.get_entry(outcome.model_id,
                                                     settings=settings).path).predict_one(
        np.zeros((28, 28), np.uint8))
    assert probabilities.shape == (3,)


def test_photo_augmentation_is_off_by_default_and_mirrors_and_relights_when_on() -> None:
    from dashcore.training.augment import augmentation

    assert augmentation(TrainConfig()) is None
    digits = augmentation(TrainConfig(augment=True))
    assert not digits.flip and digits.brightness == 0  # a mirrored digit is another symbol
    photo = augmentation(TrainConfig(augment_photo=True, seed=1))
    assert photo.flip and photo.brightness > 0 and photo.fill_mode == "reflect"
    image = np.zeros((1, 16, 16, 3), np.float32)
    image[:, :, :4] = 1.0  # a bright band on the left
    flipped = brightened = False
    for _ in range(20):
        out = np.asarray(photo(image, training=True))
        flipped |= bool(out[0, 8, -2, 0] > 0.5)
        brightened |= bool(out[0, 8, 8, 0] > 0.05)  # the dark middle made lighter
    assert flipped and brightened
    assert np.array_equal(np.asarray(photo(image, training=False)), image)  # only in training


def test_digit_augmentation_moves_a_digit_but_keeps_it_upright_and_black_around() -> None:
    from dashcore.training.augment import augmentation

    layer = augmentation(TrainConfig(augment=True, seed=3))
    image = np.zeros((8, 28, 28, 1), np.float32)
    image[:, 8:20, 12:16] = 1.0  # a "1"
    out = np.asarray(layer(image, training=True))
    assert out.shape == image.shape and not np.allclose(out, image)
    assert out[:, 0, :].max() < 0.05 and out[:, :, 0].max() < 0.05  # black borders
    assert 0.7 < out.sum() / image.sum() < 1.3  # zoom ±10%: about the same ink
    centre_x = (out[..., 0].sum(axis=1) * np.arange(28)).sum(axis=1) / out[..., 0].sum((1, 2))
    assert np.all(np.abs(centre_x - 13.5) <= 28 * 0.1 + 1.5)  # shifted by at most ~10%


def test_augmentation_switches_must_be_on_or_off() -> None:
    problems = TrainConfig(augment_photo="yes").validate()
    assert problems == ["Augment photo must be on or off (true or false); got 'yes'."]
