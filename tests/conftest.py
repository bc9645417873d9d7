"""Shared fixtures: every test gets its own empty DASHCORE_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def dashcore_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the workbench's data folder at a fresh temporary directory."""
    home = tmp_path / "dashcore_home"
    monkeypatch.setenv("DASHCORE_HOME", str(home))
    return home
