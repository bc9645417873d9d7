"""Browser journey on a shared server: what one person names a model reaches another
person's screen as the characters typed, never as Markdown, HTML or a link.

Alice (password list) renames her model on /models to a name full of Markdown, HTML and
Plotly template syntax; a run of hers carries such a name too. Bob signs in in another
browser and opens /models, /evaluate, /draw and /train: he reads the literal characters,
no element points outside, and his browser requests nothing outside 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashcore.access.auth import hash_password
from dashcore.models import registry
from dashcore.settings import Settings
from dashcore.store.runs import COMPLETED, RunRecord
from dashcore.store.sqlite import SQLiteRunStore
from dashcore.training.config import TrainConfig
from tests.helpers.harness import free_port, start_app, stop_app, wait_for_app
from views.common.text import WORD_JOINER

pytestmark = pytest.mark.e2e
# Markdown emphasis and a link, an HTML image, an entity, a template placeholder, a bare
# web address: each would render as something else if shown unescaped.
HOSTILE = "**URGENT** [sign in](http://evil.example/a) <img src=http://evil.example/p> &lt;"
RUN_NAME = "<a href=http://evil.example>run</a> %{y} www.evil.example"
OUTSIDE = "evil.example"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A password-list server with alice's model and one finished run of hers."""
    import keras

    folder = tmp_path_factory.mktemp("shared")
    home = folder / "home"
    settings = Settings(home=home).ensure_dirs()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    registry.save_model(model, {"name": "alice model", "dataset": "MNIST", "owner": "alice",
                                "input_shape": [28, 28, 1], "num_classes": 10,
                                "test_accuracy": 0.999}, settings, model_id="alice-model")
    store = SQLiteRunStore(settings.store_path)
    for run_id, name in (("r-alice", RUN_NAME), ("r-alice-2", "plain run")):
        store.create_run(RunRecord(run_id=run_id, name=name, status=COMPLETED,
                                   config=TrainConfig().to_dict(), dataset="MNIST",
                                   architecture="CNN 32-64", owner="alice",
                                   started=time.time() - 60, finished=time.time()))
        for epoch in (1, 2):  # two runs with curves: the overlay chart shows its legend
            store.add_epoch_point(run_id, {"epoch": epoch, "x": epoch, "loss": 0.3,
                                           "accuracy": 0.9, "val_loss": 0.2,
                                           "val_accuracy": 0.9 + epoch / 100})
    secrets = folder / "secrets.toml"
    secrets.write_text(
        '[workbench]\nmode = "password"\n\n[workbench.passwords]\n'
        f'alice = "{hash_password("alice pw", iterations=1_000)}"\n'
        f'bob = "{hash_password("bob pw", iterations=1_000)}"\n', "utf-8")
    port = free_port()
    proc = start_app(home, port, extra_args=["--secrets.files", str(secrets)])
    try:
        yield f"http://127.0.0.1:{port}", home
    finally:
        stop_app(proc, home)


def sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url)
    wait_for_app(page)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for()


def go_to(page, title: str) -> None:
    """Open a page from the sidebar (a reload would sign the person out)."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    page.wait_for_url(f"**/{title.lower()}")
    wait_for_app(page)


def pickers(page) -> list[str]:
    """What the select boxes show: their text and their inputs' values."""
    boxes = page.locator("[data-testid='stSelectbox']")
    return ([box.inner_text() for box in boxes.all()]
            + [field.input_value() for field in boxes.locator("input").all()])


def shown(text: str) -> str:
    """Text as a reader sees it: the invisible word joiners that keep a bare address from
    becoming a link (views.common.text.WORD_JOINER) take no space and are dropped."""
    return text.replace(WORD_JOINER, "").strip()


def nothing_points_outside(page) -> None:
    """No link, image or frame in the page refers to the outside address."""
    for selector in ("a[href]", "img[src]", "iframe[src]", "[style*='url(']"):
        for element in page.locator(selector).all():
            html = element.evaluate("e => e.outerHTML")
            assert OUTSIDE not in html, html


def test_another_person_reads_a_hostile_name_literally_and_fetches_nothing_outside(
        browser, shared_server: tuple[str, Path], tmp_path: Path) -> None:
    url, home = shared_server
    alice_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    alice = alice_context.new_page()
    alice.set_default_timeout(30_000)
    sign_in(alice, f"{url}/models", "alice", "alice pw")
    wait_for_app(alice)
    row = alice.locator(".st-key-model-alice-model")
    row.get_by_role("button", name="Rename").click()
    alice.get_by_label("New name").fill(HOSTILE)
    alice.get_by_role("button", name="Save name").click()
    alice.get_by_text("Renamed 'alice model' to").wait_for()
    assert registry.read_card("alice-model", Settings(home=home))["name"] == HOSTILE
    alice_context.close()

    bob_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    bob = bob_context.new_page()
    bob.set_default_timeout(60_000)
    requested: list[str] = []
    bob.on("request", lambda request: requested.append(request.url))
    try:
        sign_in(bob, f"{url}/models", "bob", "bob pw")
        wait_for_app(bob)
        bob.locator("h4").first.wait_for()
        headings = [shown(text) for text in bob.locator("h4").all_text_contents()]
        assert HOSTILE in headings  # the model's heading, character for character
        nothing_points_outside(bob)

        go_to(bob, "Evaluate")
        wait_for_app(bob)
        bob.locator("[data-testid='stMetricLabel']", has_text="Accuracy").first.wait_for(
            timeout=180_000)  # the evaluation ran (TensorFlow loads first)
        assert any(HOSTILE in value for value in pickers(bob))  # the model picker
        nothing_points_outside(bob)

        go_to(bob, "Draw")
        wait_for_app(bob)
        bob.locator("[data-testid='stSelectbox']").first.wait_for()
        assert any(HOSTILE in value for value in pickers(bob))  # the model picker
        nothing_points_outside(bob)

        go_to(bob, "Train")
        wait_for_app(bob)
        legend = bob.locator(".legendtext")
        legend.filter(has_text="%{y}").first.wait_for()
        assert RUN_NAME in [text.strip() for text in legend.all_text_contents()]
        nothing_points_outside(bob)
    finally:
        bob.screenshot(path=str(tmp_path / "bob.png"), full_page=True)
        bob_context.close()
    hosts = {urlparse(u).hostname for u in requested if urlparse(u).scheme in ("http", "https",
                                                                               "ws", "wss")}
    assert hosts == {"127.0.0.1"}, hosts
