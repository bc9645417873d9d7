"""Page tests open every page the way a person does: through the router, ``app.py``."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


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
