"""Fixtures for the scale-out tests: the team setup on 127.0.0.1 (.ci/services.sh starts it).

Skipped unless DASHCORE_TEST_PG (PostgreSQL), DASHCORE_TEST_RAY (a Ray head's dashboard)
and DASHCORE_TEST_S3 (a bucket URL, with AWS_ENDPOINT_URL_S3 for moto) are set.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from dashcore.settings import get_settings
from tests.helpers.pg import pg_schema_url

NEEDED = ("DASHCORE_TEST_PG", "DASHCORE_TEST_RAY", "DASHCORE_TEST_S3")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/scaleout/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.scaleout)


@pytest.fixture
def team(monkeypatch, dashcore_home) -> Iterator[dict[str, str]]:
    """Settings of a team's server: runs in a fresh PostgreSQL schema, jobs on the Ray head,
    models under a fresh prefix of the S3 bucket."""
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not set: run .ci/services.sh start to test scale-out")
    from dashcore.jobs import queue
    from dashcore.store import factory

    with pg_schema_url() as url:
        env = {"DASHCORE_DB": url, "DASHCORE_BACKEND": "ray",
               "DASHCORE_RAY_ADDRESS": os.environ["DASHCORE_TEST_RAY"],
               "DASHCORE_ARTIFACTS": f"{os.environ['DASHCORE_TEST_S3']}/{secrets.token_hex(4)}",
               "DASHCORE_STOP_GRACE_S": "20"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield env
        client = queue.get_backend("ray", _settings()).client
        # nothing left running on the cluster
        for run in factory.open_store(get_settings()).list_runs():
            try:
                if str(client.get_job_status(run.run_id)).upper().endswith(
                        ("PENDING", "RUNNING")):
                    client.stop_job(run.run_id)
            except Exception:  # noqa: BLE001 - never submitted
                pass
        for key in env:
            monkeypatch.delenv(key)
        queue._started_homes.clear()


def _settings():
    from dashcore.settings import get_settings

    return get_settings()
