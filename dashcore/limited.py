"""Heavy work a request starts, kept from taking the shared server: a bounded number of
limited child processes, a short queue in front of them, and one at a time per person.

Decoding a zip of images or reading an uploaded file is the web server's CPU unless it is
moved out. A :class:`WorkGate` admits at most ``slots`` pieces of work at once (the rest
wait in a queue of bounded length, then are told to come back), and refuses a second one
from a person who already has one running. :func:`run_child` runs a command in its own
session, kills the whole session when the wall-clock limit passes, and reports how it
ended; the child limits its own CPU time and memory (:func:`apply_limits`) before it
touches the input. The model checker and the isolated evaluation use the same pieces.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dashcore.errors import UserError

QUEUE = 4  # pieces of work allowed to wait for a slot; more are asked to come back
WAIT_S = 120.0  # longest one waits for a slot before being asked to come back


def _limit(kind: int, value: int) -> None:
    """Lower a resource limit (never raise it above the hard limit we inherited)."""
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))


def apply_limits(memory_mb: int, cpu_s: int, file_mb: int) -> None:
    """In a child: address space, CPU time, largest written file, no core dumps."""
    _limit(resource.RLIMIT_AS, memory_mb << 20)
    _limit(resource.RLIMIT_CPU, cpu_s)
    _limit(resource.RLIMIT_FSIZE, file_mb << 20)
    _limit(resource.RLIMIT_CORE, 0)


def child_env(tmp_dir: Path) -> dict[str, str]:
    """A small environment for a limited child: one thread, no GPU, quiet TensorFlow.

    ``TMPDIR`` is ``tmp_dir``, inside the child's work folder: Keras extracts a ``.keras``
    with assets into a temporary folder and leaves it behind when a later member is
    damaged, so whatever a child writes must go with its work folder.
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "KERAS_BACKEND", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    package_root = str(Path(__file__).resolve().parents[1])
    env.update(PYTHONPATH=package_root, PYTHONNOUSERSITE="1", TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1",
               TF_NUM_INTEROP_THREADS="1", TF_ENABLE_ONEDNN_OPTS="0", TMPDIR=str(tmp_dir),
               TEMP=str(tmp_dir), TMP=str(tmp_dir))
    return env


class WorkGate:
    """At most ``slots`` at once (given per call, from settings), at most ``queue`` waiting,
    one per owner; thread-safe (Streamlit runs every session in one process)."""

    def __init__(self, what: str, queue: int = QUEUE, wait_s: float = WAIT_S) -> None:
        self.what = what  # "an import": how the sentences name the work
        self.queue = queue
        self.wait_s = wait_s
        self._cond = threading.Condition()
        self._running = 0
        self._waiting = 0
        self._owners: set[str] = set()

    def _busy(self) -> UserError:
        return UserError(f"The server is busy with other people's work ({self.what} runs at "
                         "a time for everyone): try again in a minute.")

    @contextmanager
    def slot(self, owner: str, slots: int) -> Iterator[None]:
        """Hold one slot for ``owner`` ("" for a trusted caller or a server without
        accounts); refuse with a sentence when they already hold one or too many wait."""
        with self._cond:
            if owner in self._owners:
                raise UserError(f"You already have {self.what} running: wait for it to "
                                "finish, then try again.")
            if self._waiting >= self.queue:
                raise self._busy()
            self._owners.add(owner)
            self._waiting += 1
            try:
                admitted = self._cond.wait_for(lambda: self._running < max(1, slots),
                                               timeout=self.wait_s)
            finally:
                self._waiting -= 1
            if not admitted:
                self._owners.discard(owner)
                raise self._busy()
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._owners.discard(owner)
                self._cond.notify_all()

    @property
    def running(self) -> int:
        """Pieces of work holding a slot now."""
        with self._cond:
            return self._running

    @property
    def waiting(self) -> int:
        """Pieces of work queued for a slot now."""
        with self._cond:
            return self._waiting


@dataclass(frozen=True)
class ChildEnd:
    """How a child process ended: its exit code (negative: the signal that ended it), the
    last line it wrote to stderr, and whether the wall-clock limit stopped it."""

    returncode: int
    last_line: str
    timed_out: bool

    @property
    def out_of_cpu(self) -> bool:
        """Ended by its CPU-time limit (SIGXCPU, or SIGKILL at the hard limit)."""
        return self.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not self.timed_out


def run_child(command: list[str], cwd: Path, env: dict[str, str], wall_s: float) -> ChildEnd:
    """Run ``command`` in its own session; kill the whole session after ``wall_s`` seconds."""
    proc = subprocess.Popen(command, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    timed_out = False
    try:
        _, stderr = proc.communicate(timeout=wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return ChildEnd(proc.returncode, (lines[-1] if lines else "no output")[:200], timed_out)
