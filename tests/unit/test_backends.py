"""The same workbench on TensorFlow, JAX and PyTorch: a model saved on one backend predicts
the same on another, and a recipe reaches the same accuracy on each.

Each backend runs in its own child process (``tests/unit/backend_probe.py``), with this
interpreter when it has the backend's package, else the one named by
``DASHCORE_<BACKEND>_PYTHON`` (e.g. ``DASHCORE_TORCH_PYTHON=/opt/torch-venv/bin/python``).
A pair whose backends are not both available is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from itertools import permutations
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}  # backend → package
PREDICT_ATOL = 1e-4  # float32 convolutions summed in a different order per backend
ACCURACY_POINTS = 0.5  # same recipe and seed: test accuracies this close, in points


def python_for(backend: str) -> str | None:
    """An interpreter that has ``backend``'s package, or None."""
    named = os.environ.get(f"DASHCORE_{backend.upper()}_PYTHON")
    if named:
        return named if Path(named).exists() else None
    return sys.executable if importlib.util.find_spec(BACKENDS[backend]) else None


def probe(backend: str, *args: str, timeout: int = 600) -> dict:
    python = python_for(backend)
    if python is None:
        pytest.skip(f"{backend} is not installed here (nor DASHCORE_{backend.upper()}_PYTHON "
                    "set)")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    done = subprocess.run([python, "-m", "tests.unit.backend_probe", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PAIRS = [pytest.param(a, b, id=f"{a}-to-{b}") for a, b in permutations(BACKENDS, 2)]


@pytest.fixture(scope="module")
def cross_loaded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], dict]:
    """``(saved_on, loaded_on) → what the loading backend saw``. Each installed backend
    saves one model, once; each loading backend then reads every other backend's model in
    one process (a backend's import costs more than the checks themselves)."""
    folder = tmp_path_factory.mktemp("backends")
    installed = [b for b in BACKENDS if python_for(b) is not None]
    files = {b: (str(folder / f"{b}.keras"), str(folder / f"{b}.npz")) for b in installed}
    saved: set[str] = set()
    seen: dict[tuple[str, str], dict] = {}

    def result(saved_on: str, loading: str) -> dict:
        if (saved_on, loading) not in seen:
            others = [b for b in installed if b != loading]
            for backend in others:
                if backend not in saved:
                    assert probe(backend, "save", *files[backend])["backend"] == backend
                    saved.add(backend)
            report = probe(loading, "predict", *(p for b in others for p in files[b]))
            for backend, found in zip(others, report["files"], strict=True):
                seen[(backend, loading)] = {"backend": report["backend"], **found}
        return seen[(saved_on, loading)]

    return result


@pytest.mark.slow
@pytest.mark.parametrize(("saved_on", "loaded_on"), PAIRS)
def test_a_model_saved_on_one_backend_predicts_the_same_on_another(
        saved_on, loaded_on, cross_loaded) -> None:
    for backend in (saved_on, loaded_on):
        if python_for(backend) is None:
            pytest.skip(f"{backend} is not installed here")
    result = cross_loaded(saved_on, loaded_on)
    assert result["backend"] == loaded_on and result["same_top1"]
    assert result["max_diff"] <= PREDICT_ATOL
    assert result["max_diff_predictor"] <= PREDICT_ATOL  # the fast path as well
    assert result["fast_path"]  # jax.jit / tf.function / torch eager, not the fallback


@pytest.mark.slow
def test_the_fast_recipe_reaches_the_same_accuracy_on_every_installed_backend() -> None:
    installed = [b for b in BACKENDS if python_for(b) is not None]
    if len(installed) < 2:
        pytest.skip(f"only {installed} installed here: nothing to compare")
    results = {b: probe(b, "train", "42", timeout=900) for b in installed}
    accuracies = {b: r["test_accuracy"] for b, r in results.items()}
    assert all(r["status"] == "completed" for r in results.values()), results
    assert max(accuracies.values()) - min(accuracies.values()) <= ACCURACY_POINTS / 100, (
        accuracies)
    assert min(accuracies.values()) >= 0.985, accuracies
