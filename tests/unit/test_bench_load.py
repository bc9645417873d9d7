"""The load benchmarks' arithmetic and verdicts (the benchmarks themselves are too long
for the suite: see benchmarks/README.md)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bench_many_sessions as many
from benchmarks import bench_soak as soak


def test_percentiles_interpolate_like_numpy_and_are_nan_for_nothing() -> None:
    values = [120.0, 80.0, 400.0, 95.0, 101.0]
    assert many.percentile(values, 50) == 101.0
    assert many.percentile(values, 95) == pytest.approx(np.percentile(values, 95))
    assert many.summarize([])["n"] == 0
    assert many.percentile([], 95) != many.percentile([], 95)  # NaN


def test_replay_shares_carry_the_wilson_interval_scipy_computes() -> None:
    from scipy.stats import binomtest

    from benchmarks.common import share_with_interval, wilson_interval

    for hits, total in ((196, 200), (197, 200), (1975, 2000), (3, 50)):
        expected = binomtest(hits, total).proportion_ci(method="wilson")
        assert wilson_interval(hits, total) == pytest.approx((expected.low, expected.high))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    # 200 drawings cannot tell 98.5% from 99%: both lie inside the interval.
    assert share_with_interval(197, 200) == "197/200 (98.5%; 95% interval 95.7–99.5%)"


def test_parts_are_summarised_per_phase_and_part() -> None:
    parts = many.split_medians({"idle": [(200, 10, 90), (210, 30, 110), (205, 20, 100)]})
    assert parts == {"idle": {"page_to_send": 205, "server_first_msg": 20,
                              "page_to_shown": 100}}


def passing_soak() -> dict:
    return {"page_errors": [], "exceptions": [], "unanswered": 0, "drawings": 200,
            "job_status": "completed", "server_rss_open_mb": 1000.0,
            "server_rss_after_mb": 1100.0}


def test_a_clean_soak_passes_every_check() -> None:
    assert all(soak.checks(passing_soak(), 1.25).values())


@pytest.mark.parametrize("change", [
    {"unanswered": 1}, {"drawings": 0}, {"job_status": "failed"},
    {"exceptions": ["/data: KeyError"]}, {"page_errors": ["session 3: TimeoutError"]},
    {"server_rss_after_mb": 1300.0},
])
def test_any_failure_fails_the_soak(change: dict) -> None:
    assert not all(soak.checks({**passing_soak(), **change}, 1.25).values())
