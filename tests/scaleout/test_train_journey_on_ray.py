"""The /train browser journey, unchanged, against a team's server: jobs on Ray, runs in
PostgreSQL, models in S3. What a person sees must not depend on where training runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.harness import free_port, start_app, stop_app
from tests.helpers.journeys import train_watch_leave_return_and_stop

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture
def team_app_url(team, tmp_path: Path):
    """A server started with the team settings (the `team` fixture put them in the env)."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    proc = start_app(home, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_app(proc, home)


def test_the_training_journey_passes_unchanged_on_ray_postgres_and_s3(team_app_url, page, settings):
    from dashcore.store.factory import open_store

    store = open_store(settings)
    train_watch_leave_return_and_stop(page, team_app_url, store)
    runs = store.list_runs()
    assert [r.backend for r in runs] == ["ray"]  # it really ran as a Ray job
    assert runs[0].summary.get("model_id")  # and its model was saved (to the bucket)
