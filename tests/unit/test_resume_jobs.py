"""Continuing runs through the job queue: stopped, killed, interrupted by a restart, and
completed runs go on from their last whole epoch, as the same run or as a new one."""

from __future__ import annotations

import os
import signal

import pytest

from dashcore.errors import UserError
from dashcore.jobs import local, queue
from dashcore.jobs.resume import continue_run
from dashcore.models.registry import read_card
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, INTERRUPTED, STOPPED, RunRecord
from dashcore.training.checkpoints import read_checkpoint
from dashcore.training.config import TrainConfig
from tests.helpers.jobs import QUICK, TINY, FakeLauncher, finished, wait_for

pytestmark = pytest.mark.usefixtures("no_stray_workers")  # kill what a failed test leaves running
# Slow enough to be caught in its second epoch, however fast the machine.
LONG = TrainConfig(architecture=TINY, epochs=50, batch_size=8, max_train_images=1000,
                   batch_log_interval_s=0.1)


def _in_second_epoch(run_id: str) -> bool:
    run = open_store(get_settings()).get_run(run_id)
    if not run.active:
        raise AssertionError(f"run ended as {run.status} ({run.reason}) too early")
    progress = run.progress or {}
    return (read_checkpoint(get_settings().runs_dir / run_id) is not None
            and progress.get("epoch", 0) >= 2 and progress.get("batch", 0) >= 2)


def _epochs(run_id: str) -> list[int]:
    return [p["epoch"] for p in open_store(get_settings()).epoch_points(run_id)]


def _assert_whole_curve(run_id: str, last: int) -> None:
    """Epoch points 1..last, none cut short, and batch points only up to ``last``."""
    points = open_store(get_settings()).epoch_points(run_id)
    assert [p["epoch"] for p in points] == list(range(1, last + 1))
    assert not any(p.get("partial") for p in points)
    assert max(p["epoch"] for p in open_store(get_settings()).batch_points(run_id)) == last


def _start_and_catch(how: str) -> tuple[str, int]:
    """A LONG run stopped or killed in epoch ≥2; returns its id and its whole epochs."""
    run = queue.submit(LONG, name=f"to {how}", settings=get_settings())
    wait_for(lambda: _in_second_epoch(run.run_id), "the second epoch")
    if how == "stop":
        queue.stop(run.run_id, settings=get_settings())
    else:
        os.kill(open_store(get_settings()).get_run(run.run_id).pid, signal.SIGKILL)
    wait_for(finished(run.run_id), f"the {how} to be recorded")
    return run.run_id, read_checkpoint(get_settings().runs_dir / run.run_id).epoch


@pytest.mark.slow
def test_a_completed_run_goes_on_for_more_epochs_as_the_same_run(settings):
    run = queue.submit(QUICK, name="finished once", settings=settings)
    wait_for(finished(run.run_id), "the first part")
    first = open_store(settings).get_run(run.run_id)
    assert first.status == COMPLETED
    again = continue_run(run.run_id, 2, settings=settings)
    assert again.run_id == run.run_id and again.config["epochs"] == 3
    wait_for(finished(run.run_id), "the second part")
    after = open_store(settings).get_run(run.run_id)
    assert after.status == COMPLETED, after.reason
    _assert_whole_curve(run.run_id, 3)
    assert after.summary["parts"] == [{"epochs": [1, 1], "status": COMPLETED, "reason": None,
                                       "model_id": first.summary["model_id"],
                                       "test_accuracy": first.summary["test_accuracy"]}]
    card = read_card(after.summary["model_id"], settings=settings)
    assert card["epochs_done"] == 3 and card["continued_from_epoch"] == 1
    assert card["parts"] == after.summary["parts"]  # the card records both parts


@pytest.mark.slow
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_stopped_or_killed_run_resumes_from_its_last_whole_epoch(how, settings):
    run_id, whole = _start_and_catch(how)
    ended = open_store(settings).get_run(run_id)
    assert ended.status == (STOPPED if how == "stop" else FAILED)
    def batch_epochs() -> int:
        return max(p["epoch"] for p in open_store(get_settings()).batch_points(run_id))

    # The cut-short epoch is on the chart for now (none when Stop landed on an epoch's last
    # batch, which a loaded machine can make happen).
    assert batch_epochs() in (whole, whole + 1)
    continue_run(run_id, 1, settings=settings)
    assert _epochs(run_id) == list(range(1, whole + 1))  # ... and dropped when it goes on
    assert batch_epochs() == whole
    wait_for(finished(run_id), "the continued run")
    after = open_store(settings).get_run(run_id)
    assert after.status == COMPLETED, after.reason
    _assert_whole_curve(run_id, whole + 1)
    assert after.summary["parts"][0]["status"] == ended.status
    assert read_card(after.summary["model_id"], settings=settings)["continued_from_epoch"] == whole


@pytest.mark.slow
def test_a_run_interrupted_by_a_server_restart_continues_as_a_new_run_naming_its_parent(
        monkeypatch, settings):
    run = queue.submit(LONG, name="orphaned", settings=settings)
    wait_for(lambda: _in_second_epoch(run.run_id), "the second epoch")
    the_store = open_store(settings)
    os.kill(the_store.get_run(run.run_id).pid, signal.SIGKILL)
    wait_for(lambda: not local.worker_alive(the_store.get_run(run.run_id))[0],
             "the worker to be gone")
    monkeypatch.setattr(queue, "_started_homes", set())  # the server comes back up
    assert queue.startup(settings) == [run.run_id]
    parent = the_store.get_run(run.run_id)
    assert parent.status == INTERRUPTED
    whole = read_checkpoint(get_settings().runs_dir / run.run_id).epoch
    assert f"can be continued on /train from its last whole epoch ({whole})" in parent.reason
    assert "Start the run again" not in parent.reason
    child = continue_run(run.run_id, 1, as_new=True, settings=settings)
    assert child.run_id != run.run_id and child.name == "orphaned (continued)"
    wait_for(finished(child.run_id), "the child run")
    child = the_store.get_run(child.run_id)
    assert child.status == COMPLETED, child.reason
    assert _epochs(child.run_id) == [whole + 1]  # numbering goes on from the parent's
    card = read_card(child.summary["model_id"], settings=settings)
    assert card["parent_run"] == run.run_id and card["parent_name"] == "orphaned"
    assert the_store.get_run(run.run_id).status == INTERRUPTED  # the parent is left as it was


def test_an_active_run_or_one_without_a_whole_epoch_cannot_be_continued(settings):
    launcher = FakeLauncher()
    the_store = open_store(settings)
    running = queue.submit(QUICK, name="busy", launcher=launcher, settings=settings)
    with pytest.raises(UserError, match="still starting|still queued"):
        continue_run(running.run_id, 1, launcher=launcher, settings=settings)
    the_store.create_run(RunRecord(run_id="r-early", name="early", status=FAILED,
                                   config=QUICK.to_dict()))
    with pytest.raises(UserError, match="no checkpoint of a whole epoch"):
        continue_run("r-early", 1, launcher=launcher, settings=settings)


def test_continuing_past_the_epoch_limit_says_how_many_more_are_allowed(tmp_path, settings):
    from dashcore.training.checkpoints import STATE_FILE

    the_store = open_store(settings)
    the_store.create_run(RunRecord(run_id="r-done", name="done", status=COMPLETED,
                                   config=QUICK.to_dict()))
    folder = get_settings().runs_dir / "r-done"
    folder.mkdir(parents=True)
    (folder / "checkpoint-e0001.keras").write_bytes(b"stand-in")
    (folder / STATE_FILE).write_text('{"epoch": 1, "file": "checkpoint-e0001.keras", '
                                     '"seed": 42}')
    limit = get_settings().limits.max_epochs
    with pytest.raises(UserError, match=f"ask for at most {limit - 1} more"):
        continue_run("r-done", limit, launcher=FakeLauncher(), settings=settings)
    with pytest.raises(UserError, match="at least 1"):
        continue_run("r-done", 0, launcher=FakeLauncher(), settings=settings)
