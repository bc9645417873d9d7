"""The Ray job's entrypoint on its host, without Ray or TensorFlow.

First its pure pieces, then the whole entrypoint as a process handing a run to a stand-in
spare (a tiny process reading its FIFO, as in test_spares): it copies the spare's output
to its own, passes a stop signal on, exits by the run's outcome, and a spare whose job's
process was killed is killed too. The cold path and real spares on Ray are in
tests/scaleout/test_ray_spares.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashcore.jobs import ray_entry, spares
from dashcore.jobs.local import process_identity
from dashcore.settings import Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, STARTING, RunRecord
from tests.helpers import REPO_ROOT
from tests.helpers.jobs import wait_for

# ---------------------------------------------------------------- pure pieces


def test_the_job_succeeds_only_when_the_spare_recorded_the_runs_outcome():
    assert ray_entry.exit_code("completed") == 0
    assert ray_entry.exit_code("stopped") == 0 and ray_entry.exit_code("failed") == 0
    assert ray_entry.exit_code("running") == 1  # the spare died without a word
    assert ray_entry.exit_code("starting") == 1 and ray_entry.exit_code(None) == 1


def test_a_replacement_spare_waits_for_the_first_point_or_the_end_of_the_run():
    assert not ray_entry.has_trained({}, "starting")
    assert not ray_entry.has_trained({"phases": [{"phase": "loading data"},
                                                 {"phase": "compiling"}]}, "running")
    assert ray_entry.has_trained({"phases": [{"phase": "compiling"}, {"phase": "training"}]},
                                 "running")
    assert ray_entry.has_trained({}, "failed")  # ended before a point: warm one anyway
    assert not ray_entry.has_trained({"phases": "damaged"}, "running")


def test_the_relay_copies_only_what_the_log_gains_and_waits_for_a_missing_one(tmp_path):
    log, out = tmp_path / "worker.log", io.BytesIO()
    relay = ray_entry.OutputRelay(log, out)
    assert relay.pump() == 0  # not written yet
    log.write_bytes(b"epoch 1\n")
    relay.pump()
    with open(log, "ab") as handle:
        handle.write(b"epoch 2\n")
    relay.pump()
    assert out.getvalue() == b"epoch 1\nepoch 2\n"
    earlier = ray_entry.OutputRelay(log, io.BytesIO())  # a log kept from an earlier attempt
    with open(log, "ab") as handle:
        handle.write(b"this run\n")
    earlier.pump()
    assert earlier.out.getvalue() == b"this run\n"


# ---------------------------------------------------------------- the entrypoint, as a process

STAND_IN = """
import os, signal, sys, time
fifo, log_dir, go, on_term = sys.argv[1:5]
def term(signum, frame):
    with open(os.path.join(log_dir, "worker.log"), "a") as log:
        log.write("stand-in: SIGTERM\\n")
    if on_term == "exit":
        sys.exit(0)
signal.signal(signal.SIGTERM, term)
tmp = fifo + ".making"
os.mkfifo(tmp)
fd = os.open(tmp, os.O_RDWR)
message = os.read(fd, 4096).decode().strip()
os.makedirs(log_dir, exist_ok=True)
with open(os.path.join(log_dir, "worker.log"), "a") as log:
    log.write(f"stand-in took {message}\\n")
while not os.path.exists(go):
    time.sleep(0.05)
"""


@pytest.fixture
def host(monkeypatch, tmp_path) -> Settings:
    """This box as a Ray host with no real spares (a stand-in is made by each test)."""
    monkeypatch.setenv("DASHCORE_SPARES", "0")  # the minder starts no real spare
    settings = get_settings()
    open_store(settings).create_run(RunRecord(run_id="r-ray", name="on a host"))
    open_store(settings).update_run("r-ray", status=STARTING)
    yield settings
    for pid in _stand_ins:
        if process_identity(pid) is not None:
            os.kill(pid, signal.SIGKILL)
    _stand_ins.clear()


_stand_ins: list[int] = []


def _stand_in(settings: Settings, tmp_path: Path, on_term: str) -> tuple[subprocess.Popen,
                                                                        Path]:
    """A ready stand-in spare of this host; returns it and the file that lets it exit."""
    folder = settings.spares_dir
    folder.mkdir(parents=True, exist_ok=True)
    go, fifo = tmp_path / "go", tmp_path / "fifo"
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN, str(fifo),
                             str(settings.runs_dir / "r-ray"), str(go), on_term])
    _stand_ins.append(proc.pid)
    wait_for(lambda: Path(f"{fifo}.making").exists(), "the stand-in's FIFO", timeout=30)
    os.rename(f"{fifo}.making", spares.ready_path(settings, proc.pid))
    spares.record_path(settings, proc.pid).write_text(json.dumps({
        "pid": proc.pid, "identity": process_identity(proc.pid), "started": time.time(),
        "fingerprint": spares.fingerprint(settings), "log": ""}))
    return proc, go


def _entry() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dashcore.jobs.ray_entry", "r-ray"],
                            cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_until_taken(settings: Settings) -> None:
    log = settings.runs_dir / "r-ray" / "worker.log"
    wait_for(lambda: log.exists() and "took" in log.read_text(), "the spare to take the run",
             timeout=60)


def _output_of(entry: subprocess.Popen) -> str:
    return entry.communicate(timeout=60)[0].decode()


def test_the_entrypoint_hands_the_run_to_a_ready_spare_copies_its_output_and_exits_by_the_outcome(
        host, tmp_path):
    spare, go = _stand_in(host, tmp_path, on_term="exit")
    entry = _entry()
    _wait_until_taken(host)
    open_store(host).update_run("r-ray", status=COMPLETED)  # what the spare's run_job does
    go.touch()
    output = _output_of(entry)
    assert entry.returncode == 0, output
    assert f"handed to warm worker {spare.pid}" in output
    assert "stand-in took run r-ray" in output  # the spare's output is the job's log
    assert spares.list_spares(host) == []  # a run's worker now, not a spare


def test_a_spare_that_ends_without_an_outcome_fails_the_job(host, tmp_path):
    spare, go = _stand_in(host, tmp_path, on_term="exit")
    entry = _entry()
    _wait_until_taken(host)
    go.touch()
    output = _output_of(entry)
    assert entry.returncode == 1
    assert f"warm worker {spare.pid} ended without recording an outcome" in output


def test_a_stop_signal_to_the_job_is_passed_on_to_the_spare(host, tmp_path):
    spare, _ = _stand_in(host, tmp_path, on_term="exit")
    entry = _entry()
    _wait_until_taken(host)
    entry.send_signal(signal.SIGTERM)  # what Ray's stop_job sends first
    output = _output_of(entry)
    spare.wait(timeout=30)
    assert "stand-in: SIGTERM" in output and "passed on to warm worker" in output


def test_a_spare_outliving_its_killed_job_is_killed(host, tmp_path):
    spare, _ = _stand_in(host, tmp_path, on_term="ignore")  # a spare stuck past SIGTERM
    entry = _entry()
    _wait_until_taken(host)
    entry.kill()  # Ray SIGKILLs a job that has not ended a few seconds after SIGTERM
    entry.wait(timeout=30)
    assert spare.wait(timeout=30) == -signal.SIGKILL  # the minder ended it


def test_a_starting_ray_run_says_whether_a_warm_worker_on_its_host_took_it():
    from dashcore.jobs import display

    submitted = RunRecord(run_id="r-1", name="n", status=STARTING, backend="ray")
    assert display.status_line(submitted).startswith("Starting: the Ray job is starting")
    warm = RunRecord(run_id="r-2", name="n", status=STARTING, backend="ray",
                     progress={"worker": "spare"})
    assert display.status_line(warm) == "Starting: a warm worker on the Ray host is taking the run."
    cold = RunRecord(run_id="r-3", name="n", status=STARTING, backend="ray",
                     progress={"worker": "cold", "expected_s": 9.0})
    assert display.status_line(cold).startswith("Starting a worker on the Ray host: ~9 s. No warm")
