"""The home page explains the workflow and links to every step."""

from streamlit.testing.v1 import AppTest

from tests.helpers import REPO_ROOT

STEPS = ("Data", "Architecture", "Train", "Evaluate", "Draw", "Models")


def test_router_opens_on_the_home_page_with_a_link_per_step() -> None:
    app = AppTest.from_file(str(REPO_ROOT / "app.py")).run()
    assert not app.exception
    assert app.title[0].value == "Keras workbench"
    links = [link.proto.label for link in app.get("page_link")]
    for step in STEPS:
        assert any(step in label for label in links), f"no link to {step}: {links}"


def test_every_step_page_opens_without_error() -> None:
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
    for page in ("data", "architecture", "train", "evaluate", "draw", "models"):
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception, f"/{page} raised {app.exception}"
        assert app.title, f"/{page} shows no title"
