"""Sign-in through the router: off by default, a password list when configured."""

from streamlit.testing.v1 import AppTest

from dashcore.auth import hash_password
from tests.conftest import REPO_ROOT

SECRETS = {"mode": "password", "admins": ["alice"],
           "passwords": {"alice": hash_password("wonderland", iterations=1_000),
                         "bob": hash_password("builder", iterations=1_000)}}


def _app(workbench: dict | None) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    if workbench is not None:
        app.secrets["workbench"] = workbench
    return app


def test_without_configuration_nobody_is_asked_to_sign_in() -> None:
    app = _app(None).run()
    assert not app.exception
    assert app.title[0].value == "Keras workbench"


def test_with_a_password_list_the_workbench_is_hidden_until_sign_in() -> None:
    app = _app(SECRETS).run()
    assert not app.exception
    assert app.title[0].value == "Sign in"
    assert not [link for link in app.get("page_link")]
    app.text_input[0].input("bob")
    app.text_input[1].input("wrong")
    app.button[0].click().run()
    assert "Wrong user name or password" in app.error[0].value
    app.text_input[1].input("builder")
    app.button[0].click().run()
    assert app.title[0].value == "Keras workbench"
    assert any("bob" in caption.value for caption in app.sidebar.caption)


def test_a_plain_text_password_in_secrets_is_refused_with_the_fix() -> None:
    app = _app({"mode": "password", "passwords": {"bob": "builder"}}).run()
    assert "python -m dashcore.auth hash" in app.error[0].value
