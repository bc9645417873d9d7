"""Helpers shared by the tests and the benchmarks: builders of inputs (datasets, images, model
files, runs), the app server harness, page openers and browser steps.

Plain modules, imported normally (``from tests.helpers.datasets import npz``); fixtures that
wrap them live in the ``conftest.py`` of the folder that uses them. No test module imports
from another test module.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
