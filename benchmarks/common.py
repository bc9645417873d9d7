"""The scaffold every benchmark stands on, so that a benchmark file holds only what it measures.
One way to do each thing:

- :func:`fresh_home`: a new, empty data folder, set as ``DASHCORE_HOME`` for this process and
  everything it starts (the app, its workers, child processes) until the block ends.
- :func:`running_app` / :meth:`App.start`: the real app (``streamlit run app.py``) on a free
  loopback port with that folder, stopped by its process group (the start/stop of
  ``tests/helpers/harness.py``, which the browser tests use too).
- :class:`LoadMeter`: the 1-minute load average before and after, and the one-line report
  to quote with the figures (the machines are shared: a figure without its load means little).
- :class:`Phases`: wall seconds of named phases.
- :func:`markdown_table`: a table as BENCHMARKS.md writes them.
- :func:`percentile`, :func:`summarize`, :func:`latency_table`: latency figures.
- :func:`share_with_interval`: a count out of N with its 95% interval, so a figure from a
  few hundred drawings is not read more precisely than it is.
- :func:`run_in_fresh_home`: an async benchmark run in a fresh data folder, load noted.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: a measured child process loads only what it needs
    import argparse
    import subprocess


@contextmanager
def fresh_home(prefix: str = "bench-", existing: Path | None = None) -> Iterator[Path]:
    """A new empty data folder (``<tmp>/home``; the app's log goes beside it), set as
    ``DASHCORE_HOME`` until the block ends; the previous value comes back and the folder is
    removed afterwards. ``existing``: use that folder instead (a user's models), left as is."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    home = existing or tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    before = os.environ.get("DASHCORE_HOME")
    os.environ["DASHCORE_HOME"] = str(home)
    try:
        yield home
    finally:
        if before is None:
            os.environ.pop("DASHCORE_HOME", None)
        else:
            os.environ["DASHCORE_HOME"] = before
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class App:
    """The app under test: its server process and the loopback port it listens on."""

    server: subprocess.Popen
    port: int

    @classmethod
    def start(cls, home: Path, extra_env: dict[str, str] | None = None,
              extra_args: list[str] | None = None) -> App:
        """Start the app on a free port with ``home`` as its data folder; healthy on return."""
        from tests.helpers.harness import free_port, start_app

        port = free_port()
        return cls(start_app(home, port, extra_env, extra_args), port)

    @property
    def pid(self) -> int:
        return self.server.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server and everything it started (its workers share its process group)."""
        from tests.helpers.harness import stop_app

        stop_app(self.server)


@contextmanager
def running_app(home: Path, extra_env: dict[str, str] | None = None,
                extra_args: list[str] | None = None) -> Iterator[App]:
    """The app, started for the block and stopped after it, whatever happens inside."""
    app = App.start(home, extra_env, extra_args)
    try:
        yield app
    finally:
        app.stop()


def load_1min() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


@dataclass
class LoadMeter:
    """The 1-minute load average when the measuring began and when it ended."""

    before: float = field(default_factory=load_1min)
    after: float | None = None

    def stop(self) -> LoadMeter:
        """Note the load at the end (once; later calls keep the first reading)."""
        if self.after is None:
            self.after = load_1min()
        return self

    def line(self) -> str:
        """One line to quote with the figures."""
        self.stop()
        return (f"load average (1 min) before {self.before:.2f}, after {self.after:.2f} "
                f"({os.cpu_count()} cores)")


class Phases:
    """Wall seconds of named phases: ``with phases("load"): ...``; a repeated name adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: str = "") -> str:
    """A markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default ``l``)."""
    marks = ["---:" if a == "r" else "---" for a in align.ljust(len(headers), "l")]
    lines = ["| " + " | ".join(str(cell) for cell in row) + " |" for row in [headers, *rows]]
    return "\n".join([lines[0], "|" + "|".join(marks) + "|", *lines[1:]])


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def wilson_interval(hits: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the share ``hits / total``; unlike the normal
    approximation it stays inside [0, 1] near 0% and 100%."""
    z = statistics.NormalDist().inv_cdf((1 + level) / 2)
    if total <= 0:
        return float("nan"), float("nan")
    share = hits / total
    spread = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    centre = share + z * z / (2 * total)
    scale = 1 + z * z / total
    low = 0.0 if hits == 0 else (centre - spread) / scale
    high = 1.0 if hits == total else (centre + spread) / scale
    return low, high


def share_with_interval(hits: int, total: int) -> str:
    """``"196/200 (98.0%; 95% interval 95.0–99.2%)"``."""
    low, high = wilson_interval(hits, total)
    return (f"{hits}/{total} ({100 * hits / max(total, 1):.1f}%; 95% interval "
            f"{100 * low:.1f}–{100 * high:.1f}%)")


def summarize(latencies_ms: list[float]) -> dict[str, float]:
    """Count, p50, p95, mean and max of a list of latencies in milliseconds."""
    return {"n": len(latencies_ms), "p50": percentile(latencies_ms, 50),
            "p95": percentile(latencies_ms, 95),
            "mean": statistics.fmean(latencies_ms) if latencies_ms else float("nan"),
            "max": max(latencies_ms) if latencies_ms else float("nan")}


def latency_table(phases: dict[str, dict[str, float]]) -> str:
    """Per phase, the :func:`summarize` figures as a markdown table (milliseconds)."""
    return markdown_table(["phase", "n", "p50 ms", "p95 ms", "max ms"],
                          [[phase, s["n"], f"{s['p50']:.0f}", f"{s['p95']:.0f}",
                            f"{s['max']:.0f}"] for phase, s in phases.items()], "lrrrr")


def run_in_fresh_home(prefix: str, benchmark: Callable[..., Any], args: argparse.Namespace
                      ) -> dict:
    """Run an async ``benchmark(args, home)`` in a fresh data folder (the app under test and
    its workers use it); the result gains ``load_before`` and ``load_after``."""
    import asyncio

    with fresh_home(prefix) as home:
        load = LoadMeter()
        result = asyncio.run(benchmark(args, home))
        load.stop()
    result["load_before"], result["load_after"] = load.before, load.after
    return result
