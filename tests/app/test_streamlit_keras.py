"""The router stops Streamlit from resetting Keras after every script run (a ~0.4 s CPU
cost per rerun once TensorFlow is loaded; see views/common/keras_state.py and BENCHMARKS.md)."""

from __future__ import annotations

import keras
from streamlit.runtime.scriptrunner import script_runner

from views.common.keras_state import keep_keras_state


def test_after_keep_keras_state_streamlits_cleanup_leaves_keras_alone(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(script_runner, "_clean_problem_modules",
                        script_runner._clean_problem_modules)  # restored after the test
    assert keep_keras_state() is True
    script_runner._clean_problem_modules()
    assert calls == []


def test_running_the_router_installs_it(monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.helpers import REPO_ROOT
    from views.common import keras_state as streamlit_keras

    monkeypatch.setattr(script_runner, "_clean_problem_modules",
                        script_runner._clean_problem_modules)  # restored after the test
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert script_runner._clean_problem_modules is streamlit_keras._clean_without_keras
