"""Bad input: the /train form's values and the budgets a shared server sets per person.

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets import uploads
from dashcore.jobs import queue
from dashcore.models import specs
from dashcore.settings import get_settings
from dashcore.training.config import TrainConfig
from tests.helpers.corpus import (
    ANN,
    ANNS_MODEL,
    WIDE_CONVS,
    Case,
    a_finished_run,
    anns_big_run,
    anns_drawing_as,
    anns_drawings,
    anns_wide_model,
    big_npz,
    check_case,
    dataset_upload,
    export_as,
    model_upload_of,
    train,
    zip_bomb,
    zip_upload,
)
from tests.helpers.datasets import big_pngs_zip, bomb_npz, make_zip, npz, shapes_zip
from tests.helpers.jobs import TINY, FakeLauncher

CASES: dict[str, Case] = {
    "train-batch-0": Case("train", train(batch_size=0),
                          ("Batch size 0 is not allowed", "from 1 to 4096")),
    "train-split-1.0": Case("train", train(validation_split=1.0),
                            ("Validation split 1 is not allowed", "from 0 to 0.5")),
    "train-10000-epochs": Case("train", train(epochs=10_000),
                               ("10,000 epochs is not allowed", "from 1 to 200")),
    "train-lr-50": Case("train", train(learning_rate=50.0),
                        ("Learning rate 50 is not allowed", "above 0 and at most 1")),
    "train-lr-nan": Case("train", train(learning_rate=float("nan")),
                         ("Learning rate nan is not allowed",)),
    "train-batch-as-text": Case("train", train(batch_size="128"),
                                ("Batch size '128' is not allowed", "whole number")),
    "train-one-class": Case("train", train(classes=[3]),
                            ("Pick at least two different classes", "3 and 8")),
    "train-class-not-in-data": Case("train", train(classes=[3, 12]),
                                    ("Class(es) [12] do not exist in MNIST", "0 to 9")),
    "train-unknown-dataset": Case("train", train(dataset="Nope"),
                                  ("Unknown dataset 'Nope'", "MNIST")),
    "train-unknown-optimizer": Case("train", train(optimizer="adamw"),
                                    ("Optimizer 'adamw' is not offered", "adam, sgd, rmsprop")),
    "train-too-few-images": Case("train", train(max_train_images=5),
                                 ("5 training images are too few", "at least 10")),
    "train-patience-without-validation": Case(
        "train", train(patience=3, validation_split=0.0),
        ("Early stopping watches the validation loss", "validation split above 0")),
    "train-no-architecture": Case("train", train(architecture={"layers": []}),
                                  ("Pick an architecture",)),
    "train-model-over-limit": Case("train", train(),
                                   ("would have 12,730 parameters, more than the 1,000",),
                                   env={"DASHCORE_MAX_PARAMS": "1000"}),
    "npz-too-big": Case("data", dataset_upload(big_npz), ("limited to 1 MB",),
                        env={"DASHCORE_UPLOAD_MB": "1"}),
    "npz-too-many-images": Case("data", dataset_upload(npz()),
                                ("The dataset has 42 images; the limit is 10",),
                                env={"DASHCORE_MAX_DATASET_IMAGES": "10"}),
    "zip-bomb": Case("data", zip_upload(zip_bomb), ("would unpack to 3 MB", "limit is 1 MB",
                                                     "DASHCORE_UNPACKED_MB"),
                     env={"DASHCORE_UNPACKED_MB": "1"}),
    "zip-decoded-too-big": Case("data", zip_upload(lambda: shapes_zip(per_class=40), side=64),
                                ("120 images of 64×64×3 would take 1 MB",
                                 "Choose a smaller size, grey"),
                                env={"DASHCORE_UNPACKED_MB": "1"}),
    "zip-too-many-files": Case("data", zip_upload(lambda: shapes_zip(per_class=4)),
                               ("The zip holds 12 files; at most 10 images",
                                "DASHCORE_MAX_DATASET_IMAGES"),
                               env={"DASHCORE_MAX_DATASET_IMAGES": "10"}),
    "zip-too-big": Case("data", zip_upload(lambda: make_zip(
        {"a/x.bmp": np.random.default_rng(0).bytes(1_500_000)})),
                        ("uploads are limited to 1 MB",), env={"DASHCORE_UPLOAD_MB": "1"}),
    "model-huge": Case("models", model_upload_of(b"PK\x03\x04" + bytes(2 << 20), "huge.keras"),
                       ("over the 1 MB upload limit",), env={"DASHCORE_UPLOAD_MB": "1"}),
    "stop-a-finished-run": Case("train", lambda r: queue.stop("r-done", settings=get_settings()),
                                ("is already completed: there is nothing to stop",),
                                setup=a_finished_run),
    "npz-decompression-bomb": Case("data", dataset_upload(bomb_npz),
                                   ("132 MB once decompressed; the limit is 100 MB",
                                    "DASHCORE_DATASET_MB"), env={"DASHCORE_DATASET_MB": "100"}),
    "npz-bomb-over-the-image-count": Case(
        "data", dataset_upload(bomb_npz), ("2,012 images; the limit is 1,000",
                                           "DASHCORE_MAX_DATASET_IMAGES"),
        env={"DASHCORE_MAX_DATASET_IMAGES": "1000"}),
    "train-200-epochs-of-batch-1": Case(
        "train", train(architecture=specs.ModelSpec.from_dict(TINY).to_dict(), epochs=200,
                       batch_size=1, max_train_images=0),
        ("TMAC of training work", "200 epochs × 54,000 steps of 1 image",
         "DASHCORE_MAX_TRAINING_TMAC")),
    "train-wide-convs-at-batch-4096": Case(
        "train", train(architecture=WIDE_CONVS, batch_size=4096),
        ("At batch size 4,096", "Use a batch size of at most", "DASHCORE_MAX_ACTIVATION_MB")),
    "train-over-disk-quota": Case(
        "train", lambda r: queue.submit(TrainConfig(architecture=TINY, epochs=1),
                                        launcher=FakeLauncher(), user=ANN, settings=get_settings()),
        ("disk quota", "a new run cannot be started", "DASHCORE_USER_DISK_MB"),
        env={"DASHCORE_USER_DISK_MB": "1"}, setup=anns_big_run),
    "data-over-disk-quota": Case(
        "data", lambda r: uploads.save_uploaded_dataset("more", npz(), user=ANN,
                                                        settings=get_settings()),
        ("disk quota", "this dataset", "DASHCORE_USER_DISK_MB"),
        env={"DASHCORE_USER_DISK_MB": "1"}, setup=anns_big_run),
    # one person cannot spend what belongs to everyone
    "zip-import-past-its-cpu-limit": Case("data", zip_upload(
        lambda: big_pngs_zip(classes=2, per_class=30), side=28, colour="grey"),
        ("Reading these images used more than 1 s of processor time", "nothing was stored",
         "DASHCORE_IMPORT_CPU_SECONDS"), env={"DASHCORE_IMPORT_CPU_SECONDS": "1"}),
    "draw-a-class-past-ones-share": Case("draw", anns_drawing_as("junk20"),
                                         ("You have drawings in 20 classes of your own",
                                          "DASHCORE_DRAWING_CLASSES_PER_USER"),
                                         setup=anns_drawings(20)),
    "draw-past-ones-share-of-drawings": Case("draw", anns_drawing_as(3),
                                             ("You have saved 2 drawings to 'Your drawings', "
                                              "your share of it (2)",
                                              "DASHCORE_DRAWINGS_PER_USER"),
                                             env={"DASHCORE_DRAWINGS_PER_USER": "2"},
                                             setup=anns_drawings(1, per_class=2)),
    "export-past-the-owners-quota": Case("models", export_as(ANN, ANNS_MODEL),
                                         ("disk quota", "this export",
                                          "DASHCORE_USER_DISK_MB"),
                                         env={"DASHCORE_USER_DISK_MB": "1"},
                                         setup=anns_wide_model),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
