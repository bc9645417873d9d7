"""Browser journey on each non-default Keras backend: with ``KERAS_BACKEND=jax`` (then
``torch``) set for the app and its workers, train a small CNN on /train, stop it, continue
it, see the backend on its model card and in the System panel, evaluate it on /evaluate and
draw on /draw with it.

CI also runs it in an environment without TensorFlow (``DASHCORE_NO_TENSORFLOW=1``): the
pages this journey opens must then need none, and the Export panel says in a sentence that
SavedModel and TFLite need it.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashcore.backend import BACKEND_NAMES
from dashcore.models.registry import read_card
from dashcore.settings import Settings
from dashcore.store.runs import COMPLETED
from dashcore.store.sqlite import SQLiteRunStore
from tests.helpers.harness import free_port, start_app, stop_app, wait_for_app
from tests.helpers.jobs import kill_stray_workers
from tests.helpers.journeys import (
    SLOW,
    draw_stroke,
    drawing_surface,
    fill,
    press_train,
    stop_then_continue_one_epoch,
    wait_for_epochs_on_chart,
)

pytestmark = [pytest.mark.e2e, pytest.mark.backends]
BACKENDS = ("jax", "torch")  # TensorFlow, the default, is what every other journey runs on


@pytest.fixture(params=BACKENDS)
def backend_app(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(backend, URL, data folder) of an app started with ``KERAS_BACKEND`` set."""
    backend = request.param
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} package is not installed here (pip install -e "
                    f"'.[{backend}]' installs it)")
    home = tmp_path_factory.mktemp(f"e2e-{backend}") / "home"
    home.mkdir()
    port = free_port()
    proc = start_app(home, port, {"KERAS_BACKEND": backend})
    try:
        yield backend, f"http://127.0.0.1:{port}", home
    finally:
        stop_app(proc, home)
        kill_stray_workers(home)


def _train_stop_and_continue(page, url: str, home: Path) -> str:
    """Train CNN 32-64 on 1,000 images, stop it after its first epoch, continue it for one
    more; returns the model id of the continued run."""
    store = SQLiteRunStore(home / "runs.sqlite3")
    page.goto(f"{url}/train")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=SLOW)
    page.locator(".st-key-train_arch input").click()
    page.get_by_role("option", name="CNN 32-64", exact=True).click()
    wait_for_app(page)
    fill(page, "train_epochs", "200")  # never reached: the run is stopped
    fill(page, "train_batch", "32")
    page.get_by_text("More", exact=True).click()
    fill(page, "train_max_images", "1000")
    press_train(page, store)
    status = page.locator(".st-key-run_status")
    expect(status.filter(has_text="running").first).to_be_visible(timeout=SLOW)

    wait_for_epochs_on_chart(page, 1)
    # The compile phase is its own line: the backend's first-step tracing is not "training".
    expect(page.get_by_text("Where the time went").first).to_contain_text("compiling")
    run_id, _ = stop_then_continue_one_epoch(page, store)
    final = store.get_run(run_id)
    assert final.status == COMPLETED and final.summary["parts"][0]["status"] == "stopped"
    return final.summary["model_id"]


def test_a_model_trains_stops_continues_evaluates_and_draws_on_this_backend(
        backend_app: tuple[str, str, Path], page) -> None:
    backend, url, home = backend_app
    name = BACKEND_NAMES[backend]
    model_id = _train_stop_and_continue(page, url, home)

    # /models: the card says which backend and device trained it; System says the backend.
    page.goto(f"{url}/models")
    wait_for_app(page)
    card = page.locator(f".st-key-model-{model_id}")
    expect(card).to_contain_text(f"Backend and device: {name} · CPU", timeout=SLOW)
    card.get_by_text("Export: SavedModel, TFLite").click()
    if importlib.util.find_spec("tensorflow") is None:  # both formats are TensorFlow's
        expect(card).to_contain_text("TFLite (float32) export needs TensorFlow, which is not "
                                     "installed on this server")
    else:
        expect(card.locator(f".st-key-prepare-tflite-{model_id} button")).to_be_visible()
    page.get_by_text("System", exact=True).click()
    expect(page.get_by_text(f"backend: {backend}", exact=True)).to_be_visible()
    card.get_by_role("button", name="Make default for /draw").click()
    wait_for_app(page)

    # /evaluate: the confusion matrix of this model, and its test accuracy as on its card.
    page.goto(f"{url}/evaluate")
    wait_for_app(page)
    accuracy = SQLiteRunStore(home / "runs.sqlite3").list_runs()[-1].summary["test_accuracy"]
    expect(page.get_by_role("combobox", name="Model")).to_have_value(
        re.compile(re.escape(model_id)), timeout=SLOW)
    expect(page.get_by_test_id("stMetric").first).to_contain_text(f"{accuracy:.2%}",
                                                                 timeout=SLOW)
    page.get_by_test_id("stPlotlyChart").first.locator("g.draglayer rect.nsewdrag").first \
        .wait_for(timeout=SLOW)

    # /draw: this model (the default now) answers a drawing.
    page.goto(f"{url}/draw")
    wait_for_app(page)
    card_name = read_card(model_id, Settings(home=home))["name"]
    expect(page.get_by_role("combobox", name="Model")).to_have_value(
        re.compile(f"^{re.escape(card_name)} · "), timeout=SLOW)
    canvas = drawing_surface(page)
    canvas.wait_for(state="visible")
    draw_stroke(page, canvas, [(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)])
    # A model this small may be unsure: either way it answers, with its probabilities.
    expect(page.get_by_role("heading", name=re.compile(r"^(Prediction: |Not sure: maybe )\d")
                            ).first).to_be_visible(timeout=SLOW)
    expect(page.locator(".st-key-draw_probs")).to_be_visible()
    page.get_by_text("What the model sees").wait_for()
