"""Ownership in dashcore itself, not only in hidden buttons: runs, models, datasets and
drawings record who made them, and only the owner or an admin may change them.

No worker process and no Keras model are needed: jobs use a fake launcher, models are
plain cards in the registry folder (rename and delete read only the card).
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from dashcore.access.auth import AccessConfig, User
from dashcore.atomic import atomic_write_json
from dashcore.datasets import base, catalog, drawings, uploads
from dashcore.errors import PermissionDenied
from dashcore.jobs import display, local, queue
from dashcore.models import registry
from dashcore.models.specs import ModelSpec
from dashcore.models.upload import import_model
from dashcore.settings import Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import STOPPED
from dashcore.training.config import TrainConfig
from tests.helpers.models import saved_model

BOB, CAROL, ADMIN = User("bob"), User("carol"), User("alice", is_admin=True)
VISITOR = User(None, read_only=True)
DEMO = AccessConfig.from_mapping({"demo": True}).user(None)
TINY = ModelSpec(name="Tiny dense", layers=[
    {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]).to_dict()
QUICK = TrainConfig(architecture=TINY, epochs=1, max_train_images=300)


def fake_launcher(run_id: str, settings: Settings) -> tuple[int, float | None]:
    """Starts nothing and reports this (live) process as the worker."""
    return os.getpid(), local.process_identity(os.getpid())


def model_card(model_id: str, owner: str | None) -> str:
    """A registry entry as far as rename and delete care: its card."""
    settings = get_settings().ensure_dirs()
    atomic_write_json(registry.card_file(model_id, settings),
                      {"id": model_id, "name": f"{model_id} model", "owner": owner})
    return model_id


def dataset_bytes() -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             y_train=np.arange(20) % 2, x_test=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
             y_test=np.arange(6) % 2)
    return buffer.getvalue()


# ---------------------------------------------------------------- runs


def test_a_run_submitted_by_a_user_is_theirs(settings) -> None:
    run = queue.submit(QUICK, launcher=fake_launcher, user=BOB, settings=settings)
    assert run.owner == "bob"
    assert display.history_rows([run])[0]["Owner"] == "bob"


def test_visitors_and_demo_users_cannot_queue_a_run(settings) -> None:
    with pytest.raises(PermissionDenied, match="Sign in to do more"):
        queue.submit(QUICK, launcher=fake_launcher, user=VISITOR, settings=settings)
    with pytest.raises(PermissionDenied, match="read-only demo"):
        queue.submit(QUICK, launcher=fake_launcher, user=DEMO, settings=settings)
    assert open_store(settings).list_runs() == []


def test_only_the_owner_or_an_admin_can_stop_or_rename_a_run(settings) -> None:
    run = queue.submit(QUICK, launcher=fake_launcher, user=BOB, settings=settings)
    with pytest.raises(PermissionDenied, match="Only bob or an admin can change run"):
        queue.stop(run.run_id, user=CAROL, settings=settings)
    with pytest.raises(PermissionDenied, match="Only bob or an admin"):
        queue.rename(run.run_id, "carol's now", user=CAROL, settings=settings)
    assert not open_store(settings).get_run(run.run_id).stop_requested
    assert queue.rename(run.run_id, "bob's run", user=BOB, settings=settings).name == "bob's run"
    assert queue.stop(run.run_id, user=ADMIN, settings=settings).stop_requested


def test_the_owner_can_stop_their_queued_run(settings) -> None:
    queue.submit(QUICK, launcher=fake_launcher, user=CAROL,
                 settings=settings)  # takes the one job slot
    queued = queue.submit(QUICK, launcher=fake_launcher, user=BOB, settings=settings)
    assert queue.stop(queued.run_id, user=BOB, settings=settings).status == STOPPED


# ---------------------------------------------------------------- models


def test_only_the_owner_or_an_admin_can_rename_or_delete_a_model(settings) -> None:
    model_id = model_card("bobs", owner="bob")
    with pytest.raises(PermissionDenied, match="Only bob or an admin can change model"):
        registry.rename_model(model_id, "mine now", user=CAROL, settings=settings)
    with pytest.raises(PermissionDenied, match="Only bob or an admin"):
        registry.delete_model(model_id, user=CAROL, settings=settings)
    assert registry.rename_model(model_id, "Bob's best", user=BOB,
                                 settings=settings)["name"] == "Bob's best"
    registry.delete_model(model_id, user=ADMIN, settings=settings)
    assert not registry.card_file(model_id, settings=settings).exists()


def test_a_model_without_an_owner_is_for_admins_to_change(settings) -> None:
    model_id = model_card("orphan", owner=None)
    with pytest.raises(PermissionDenied, match="no recorded owner"):
        registry.delete_model(model_id, user=BOB, settings=settings)
    registry.rename_model(model_id, "named by the worker",
                          settings=settings)  # trusted caller: no user
    registry.rename_model(model_id, "named by an admin", user=ADMIN, settings=settings)


def test_read_only_users_cannot_change_even_an_ownerless_model(settings) -> None:
    model_id = model_card("orphan", owner=None)
    for user in (VISITOR, DEMO):
        with pytest.raises(PermissionDenied, match="read-only"):
            registry.rename_model(model_id, "x", user=user, settings=settings)


def test_only_an_admin_picks_the_default_model_for_everyone(settings) -> None:
    with pytest.raises(PermissionDenied, match="Only an admin can change the default model"):
        registry.set_default_model(registry.BUILTIN_ID, user=BOB, settings=settings)
    registry.set_default_model(registry.BUILTIN_ID, user=ADMIN, settings=settings)
    assert registry.default_model_id(settings) == registry.BUILTIN_ID


def test_an_uploaded_model_needs_upload_rights_before_anything_is_read(settings) -> None:
    with pytest.raises(PermissionDenied, match="read-only"):
        import_model(b"not even a model", "x.keras", user=VISITOR, settings=settings)
    assert not get_settings().uploads_dir.exists()


# ---------------------------------------------------------------- datasets and drawings


def test_an_uploaded_dataset_records_who_uploaded_it(settings) -> None:
    uploads.save_uploaded_dataset("bobs digits", dataset_bytes(), user=BOB, settings=settings)
    assert uploads.dataset_owner("upload:bobs digits", settings=settings) == "bob"
    assert catalog.load_dataset("upload:bobs digits", settings=settings).num_classes == 2
    uploads.save_uploaded_dataset("anon", dataset_bytes(), settings=settings)
    assert uploads.dataset_owner("upload:anon", settings=settings) is None
    assert uploads.dataset_owner(base.MNIST, settings=settings) is None


def test_a_visitor_cannot_upload_a_dataset_and_nothing_is_written(settings) -> None:
    with pytest.raises(PermissionDenied, match="read-only"):
        uploads.save_uploaded_dataset("sneaky", dataset_bytes(), user=VISITOR, settings=settings)
    assert catalog.list_datasets(settings) == [base.MNIST, base.FASHION]


def test_a_saved_drawing_records_its_owner_and_only_they_may_delete_it(settings) -> None:
    image = np.zeros((28, 28), np.uint8)
    mine = drawings.save_drawing(image, 3, user=BOB, settings=settings)
    drawings.save_drawing(image, 4, settings=settings)  # saved without accounts
    assert [d.owner for d in drawings.list_drawings(settings)] == ["bob", None]
    assert drawings.load_drawings(settings).extra["owners"] == ["bob", None]
    with pytest.raises(PermissionDenied, match="Only bob or an admin"):
        drawings.delete_drawing(mine.drawing_id, user=CAROL, settings=settings)
    drawings.delete_drawing(mine.drawing_id, user=BOB, settings=settings)
    assert drawings.count_drawings(settings) == 1


def test_visitors_may_not_save_drawings(settings) -> None:
    with pytest.raises(PermissionDenied, match="read-only demo"):
        drawings.save_drawing(np.zeros((28, 28), np.uint8), 1, user=DEMO, settings=settings)
    assert drawings.count_drawings(settings) == 0


def test_drawings_saved_before_owners_were_recorded_still_load(settings) -> None:
    path = drawings.drawings_file(get_settings().ensure_dirs())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=np.zeros((1, 28, 28), np.uint8), labels=np.array([5]),
                        ids=np.array(["old-1"]), created=np.array([0.0]))
    path.write_bytes(buffer.getvalue())
    assert [(d.label, d.owner) for d in drawings.list_drawings(settings)] == [(5, None)]
    drawings.save_drawing(np.zeros((28, 28), np.uint8), 6, user=BOB, settings=settings)
    assert [d.owner for d in drawings.list_drawings(settings)] == [None, "bob"]


# ---------------------------------------------------------------- evaluation by visitors


def test_a_visitor_sees_only_evaluations_already_run_but_may_run_the_built_in_model(
        settings) -> None:
    from dashcore.evaluation import runner

    runner.clear_cache()
    mine = saved_model("bobs-trained", "trained")
    with pytest.raises(PermissionDenied, match="Visitors see evaluations that have already "
                                               "been run, and this model has not been "
                                               "evaluated on the test split of MNIST yet"):
        runner.evaluate_entry(mine, "MNIST", "test", user=VISITOR, settings=settings)
    ran = runner.evaluate_entry(mine, "MNIST", "test", user=BOB,
                                settings=settings)  # signed in: runs it
    assert runner.evaluate_entry(mine, "MNIST", "test", user=VISITOR,
                                 settings=settings) is ran  # now cached
    builtin = next(e for e in registry.list_models(settings) if e.builtin)
    assert runner.evaluate_entry(builtin, "MNIST", "test", user=VISITOR,
                                 settings=settings).size == 10_000
