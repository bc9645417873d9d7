"""Shared fixtures: every test gets its own empty DASHCORE_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_sign_in_throttle() -> None:
    """Sign-in failures are remembered server-wide: each test starts with none."""
    from dashcore.access.throttle import THROTTLE

    THROTTLE.clear()


@pytest.fixture(autouse=True)
def dashcore_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the workbench's data folder at a fresh temporary directory."""
    home = tmp_path / "dashcore_home"
    monkeypatch.setenv("DASHCORE_HOME", str(home))
    return home
