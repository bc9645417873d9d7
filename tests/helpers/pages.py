"""Pages in Streamlit's AppTest, opened the way a person does (through the router, ``app.py``),
and what the pages are handed: runs in the store, canvas drawings."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from dashcore.jobs import local
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, RUNNING, RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers import REPO_ROOT


def open_page(name: str, state: dict[str, Any] | None = None, timeout: float = 120,
              check: bool = True) -> AppTest:
    """Run ``app.py``, then switch to ``views/<name>.py``; ``state`` is set before the first
    run (as a widget or another page would have left it). ``check`` asserts no exception."""
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.run()
    if name != "home":
        app.switch_page(f"views/{name}.py").run()
    if check:
        assert not app.exception, app.exception
    return app


def open_train() -> AppTest:
    """/train, opened through the router."""
    return open_page("train")


def submit(at: AppTest) -> AppTest:
    at.button(key="FormSubmitter:train_form-Train").click().run()
    assert not at.exception, at.exception
    return at


def busy_slot() -> RunRecord:
    """A running run whose 'worker' is this test process: the one job slot is taken."""
    return open_store(get_settings()).create_run(RunRecord(
        run_id="busy", name="busy run", status=RUNNING, config=TrainConfig().to_dict(),
        dataset="MNIST", architecture="CNN 32-64", started=time.time(), pid=os.getpid(),
        pid_created=local.process_identity(os.getpid())))


def finished_run(run_id: str, name: str, status: str = COMPLETED, reason: str | None = None,
                 val_accuracy: float = 0.97) -> RunRecord:
    store = open_store(get_settings())
    run = store.create_run(RunRecord(
        run_id=run_id, name=name, status=status, config=TrainConfig().to_dict(),
        dataset="MNIST", architecture="CNN 32-64", started=time.time() - 60,
        finished=time.time(), reason=reason))
    store.add_batch_points(run_id, [{"step": s, "epoch": 1 + s // 10, "batch": s % 10 + 1,
                                     "x": (s + 1) / 10, "loss": 1.0 / (s + 1),
                                     "accuracy": 0.5} for s in range(20)])
    for epoch in (1, 2):
        store.add_epoch_point(run_id, {"epoch": epoch, "x": epoch, "loss": 0.3 / epoch,
                                       "accuracy": 0.9, "val_loss": 0.2,
                                       "val_accuracy": val_accuracy})
    store.update_run(run_id, summary={"test_accuracy": 0.9876, "test_loss": 0.04,
                                      "best_epoch": 2, "model_id": "m-1",
                                      "best_val_accuracy": val_accuracy},
                     progress={"epoch": 2, "epochs": 2, "batch": 10, "steps": 10,
                               "fraction": 1.0, "phase": "finished"})
    return run


def figure_of(at: AppTest, key: str) -> dict:
    """The Plotly figure a chart element sends to the browser."""
    for element in at.get("plotly_chart"):
        if key in element.proto.id:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart with key {key}")


OVERRIDE_KEY = "draw_image_override"

def canvas_with(draw) -> np.ndarray:
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    draw(ImageDraw.Draw(image))
    return np.asarray(image)


ONE = canvas_with(lambda d: d.line([(140, 40), (140, 240)], fill="white", width=18))
ZERO = canvas_with(lambda d: d.ellipse([80, 40, 200, 240], outline="white", width=18))


def open_draw(image: np.ndarray | None = None) -> AppTest:
    return open_page("draw", {OVERRIDE_KEY: image} if image is not None else None)

