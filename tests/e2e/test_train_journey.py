"""Browser journey on /train: start a run, watch the chart grow, leave for /data and come
back to find it still training, stop it, and see it marked stopped."""

from __future__ import annotations

import pytest

from tests.helpers.journeys import train_watch_leave_return_and_stop

pytestmark = pytest.mark.e2e


def test_a_run_keeps_training_while_the_user_looks_elsewhere_and_stops_on_request(
        app_url: str, app_store, page, no_stray_workers) -> None:
    train_watch_leave_return_and_stop(page, app_url, app_store)
