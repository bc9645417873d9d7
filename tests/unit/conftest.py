"""Fixtures of the unit tests (the builders they wrap are in ``tests/helpers``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dashcore.jobs import local
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import RUNNING
from tests.helpers.models import user_model_files


@pytest.fixture
def no_stray_workers():
    """Whatever a test leaves running (e.g. after a failed assertion) is killed.

    Modules that start real workers use it for every test:
    ``pytestmark = pytest.mark.usefixtures("no_stray_workers")``. The settings are read
    after the test, as the test's own fixtures left them."""
    yield
    for run in open_store(get_settings()).list_runs(("starting", RUNNING)):
        if run.pid and run.pid != os.getpid() and local.worker_alive(run)[0]:
            os.kill(run.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model files as users would save them with plain Keras code (built once per module)."""
    return user_model_files(tmp_path_factory.mktemp("uploads"))
