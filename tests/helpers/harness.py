"""The browser harness: start the real app on a free loopback port with its own data folder,
stop it by its process group, and wait for a page to settle. Used by the e2e fixtures and by
the browser benchmarks in ``benchmarks/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.helpers import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(home: Path, port: int, extra_env: dict[str, str] | None = None,
              extra_args: list[str] | None = None) -> subprocess.Popen:
    """Start `streamlit run app.py` in its own process group and wait until it is healthy.

    ``extra_args`` are more ``streamlit run`` options (e.g. ``--secrets.files``).
    """
    env = {**os.environ, "DASHCORE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2",
           **(extra_env or {})}
    log = open(home.parent / f"streamlit-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         *(extra_args or [])],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("streamlit exited early; see its log") from None
            time.sleep(0.5)
    stop_app(proc, home)
    raise RuntimeError("streamlit did not become healthy within 60 s")


def stop_app(proc: subprocess.Popen, home: Path) -> None:
    """Stop the server started with ``home``, then its warm spare workers.

    Workers and spares run in their own sessions, so that training outlives a server
    restart; an idle spare would otherwise wait out its idle timeout after the tests.
    """
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    from dashcore.jobs import spares
    from dashcore.settings import Settings

    spares.retire(Settings(home=home))


def wait_for_app(page) -> None:
    """Wait until Streamlit has finished running the page script."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
        ".includes('Running')", timeout=60_000)
