"""Access in a real browser on a fresh server: a deep link is no way around sign-in.

Streamlit runs the scripts of a ``pages/`` folder beside the entry script directly
(its old multipage mode) until some session has called ``st.navigation``, which would
skip the router and its sign-in gate for the first visitors of a fresh server. The
page scripts therefore live in ``views/``; this journey opens a deep link first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashcore.access.auth import hash_password
from tests.helpers.harness import free_port, start_app, stop_app, wait_for_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def locked_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh server whose workbench needs a password; nobody has visited it yet."""
    folder = tmp_path_factory.mktemp("locked")
    home = folder / "home"
    home.mkdir()
    secrets = folder / "secrets.toml"
    secrets.write_text(
        '[workbench]\nmode = "password"\nadmins = ["alice"]\n\n[workbench.passwords]\n'
        f'alice = "{hash_password("wonderland", iterations=1_000)}"\n', "utf-8")
    port = free_port()
    proc = start_app(home, port, extra_args=["--secrets.files", str(secrets)])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_app(proc, home)


def test_a_first_visitor_deep_linking_to_models_signs_in_then_lands_there(page, locked_app_url):
    page.goto(f"{locked_app_url}/models")
    wait_for_app(page)
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.get_by_text("Upload a model").count() == 0
    page.get_by_role("textbox", name="User name").fill("alice")
    page.get_by_role("textbox", name="Password").fill("wonderland")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Models").wait_for()  # the deep link, not home
    assert page.url.endswith("/models")
    assert page.get_by_text("Signed in as").count() == 1
