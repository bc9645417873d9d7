"""Access through the router: off by default; with a password list everyone signs in, only
owners and admins change runs and models; demo mode shows sentences instead of controls.

Signed-in sessions are set up through session state (what the sign-in form stores), so
only the first tests pay for a password check.
"""

import json
import os
import re
import shutil
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from dashcore.access.auth import User, hash_password
from dashcore.jobs import local
from dashcore.models import registry
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import RUNNING, RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers import REPO_ROOT
from views.common.text import WORD_JOINER

SECRETS = {"mode": "password", "admins": ["alice"],
           "passwords": {"alice": hash_password("wonderland", iterations=1_000),
                         "bob": hash_password("builder", iterations=1_000)}}


def _app(workbench: dict | None) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    if workbench is not None:
        app.secrets["workbench"] = workbench
    return app


def _page(page: str, workbench: dict, user: str | None = None, **state) -> AppTest:
    """``views/<page>.py`` through the router, signed in as ``user`` (None: a visitor)."""
    app = _app(workbench)
    if user is not None:
        app.session_state["signed_in_as"] = user
    for key, value in state.items():
        app.session_state[key] = value
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, app.exception
    return app


def _said(app: AppTest) -> str:
    parts = [*app.info, *app.caption, *app.error, *app.success, *app.markdown]
    return "\n".join(str(p.value) for p in parts)


def _bobs_running_run() -> RunRecord:
    """A run of bob's, 'worked' by this live test process so it stays running."""
    return open_store(get_settings()).create_run(RunRecord(
        run_id="bobs-run", name="bob's run", status=RUNNING, config=TrainConfig().to_dict(),
        dataset="MNIST", architecture="CNN 32-64", started=time.time(), pid=os.getpid(),
        pid_created=local.process_identity(os.getpid()), owner="bob"))


@pytest.fixture
def bobs_model() -> str:
    """A model of bob's in the registry (the shipped model's file, bob's card)."""
    settings = get_settings().ensure_dirs()
    model_path, card_path = registry.builtin_paths()
    shutil.copyfile(model_path, registry.model_file("bobs-model", settings))
    card = {**json.loads(card_path.read_text("utf-8")), "id": "bobs-model",
            "name": "Bob's model", "owner": "bob"}
    registry.card_file("bobs-model", settings).write_text(json.dumps(card), "utf-8")
    return "bobs-model"


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


def test_guessing_a_password_locks_the_name_with_a_sentence_saying_when_to_retry() -> None:
    from dashcore.access.throttle import FREE_FAILURES

    app = _app(SECRETS).run()
    app.text_input[0].input("bob")
    for attempt in range(FREE_FAILURES + 1):
        app.text_input[1].input(f"guess-{attempt}")
        app.button[0].click().run()
        assert app.error[0].value == "Wrong user name or password."
    app.text_input[1].input("builder")  # the right password, too soon
    app.button[0].click().run()
    assert re.fullmatch(r"Too many wrong passwords for this user name: try again in \d+ s\.",
                        app.error[0].value), app.error[0].value
    assert app.title[0].value == "Sign in"


OIDC = {"mode": "oidc", "admins": ["alice@example.org"]}


def _oidc_app(workbench: dict, email: str) -> AppTest:
    """The home page for someone the identity provider has signed in as ``email``."""
    app = _app(workbench)
    app.user = {"is_logged_in": True, "email": email, "email_verified": True}
    app.run()
    assert not app.exception, app.exception
    return app


def test_with_oidc_and_no_allow_list_a_stranger_reads_why_and_sees_nothing_else() -> None:
    app = _oidc_app(OIDC, "stranger@gmail.com")
    assert [t.value for t in app.title] == ["Not admitted"]
    assert app.error[0].value.startswith("This server has no allow-list yet, so only its "
                                         "admins can use it.")
    assert not app.sidebar.caption and not [link for link in app.get("page_link")]
    admin = _oidc_app(OIDC, "alice@example.org")
    assert admin.title[0].value == "Keras workbench"
    # the name is shown literally: Markdown escapes and a word joiner keep the address unlinked
    assert any("alice@example.org" in c.value.replace("\\", "").replace(WORD_JOINER, "")
               and "(admin)" in c.value for c in admin.sidebar.caption)


def test_with_an_oidc_allow_list_only_listed_addresses_and_domains_get_in() -> None:
    listed = {**OIDC, "allowed_domains": ["example.org"], "allowed_emails": ["bob@partner.net"]}
    for email in ("carol@example.org", "bob@partner.net"):
        assert _oidc_app(listed, email).title[0].value == "Keras workbench", email
    outsider = _oidc_app(listed, "eve@gmail.com")
    assert outsider.title[0].value == "Not admitted"
    assert outsider.error[0].value.startswith("Your account is not on this server's "
                                              "allow-list.")


def test_a_plain_text_password_in_secrets_is_refused_with_the_fix() -> None:
    app = _app({"mode": "password", "passwords": {"bob": "builder"}}).run()
    assert "python -m dashcore.access.auth hash" in app.error[0].value


def test_a_signed_in_user_cannot_stop_someone_elses_run(settings) -> None:
    run = _bobs_running_run()
    app = _page("train", SECRETS, user="carol")
    assert not _has_button(app, "stop_button")
    assert "Only bob or an admin can change this run." in _said(app)
    assert "Started by **bob**. Only bob or an admin can change its name." in _said(app)
    assert not open_store(settings).get_run(run.run_id).stop_requested


def test_an_admin_can_stop_anyones_run(settings) -> None:
    run = _bobs_running_run()
    app = _page("train", SECRETS, user="alice")
    app.button(key="stop_button").click().run()
    assert open_store(settings).get_run(run.run_id).stop_requested


def test_a_signed_in_user_cannot_rename_or_delete_someone_elses_model(bobs_model) -> None:
    app = _page("models", SECRETS, user="carol")
    assert not _has_button(app, f"delete-{bobs_model}")
    assert not _has_button(app, f"default-{bobs_model}")
    assert "Only bob or an admin can change this model." in _said(app)
    assert "**Owner**: bob" in _said(app)


def test_an_admin_can_delete_anyones_model(bobs_model, settings) -> None:
    app = _page("models", SECRETS, user="alice")
    app.button(key=f"delete-{bobs_model}").click().run()
    app.button(key=f"delete-yes-{bobs_model}").click().run()
    assert not app.exception, app.exception
    assert not registry.card_file(bobs_model, settings=settings).exists()
    assert 'Deleted "Bob\'s model".' in _said(app)


def test_a_signed_in_user_sees_their_disk_use_against_their_quota_on_models(
        bobs_model) -> None:
    app = _page("models", SECRETS, user="bob")
    line = next(c.value for c in app.caption if c.value.startswith("**Your disk quota.**"))
    assert re.fullmatch(r"\*\*Your disk quota\.\*\* You use \d+\.\d KB of 2\.0 GB \(models "
                        r"\d+\.\d KB, exports 0 B, datasets 0 B, drawings 0 B, runs 0 B\)\.",
                        line), line
    carol = _page("models", SECRETS, user="carol")
    assert "You use 0 B of 2.0 GB" in _said(carol)
    visitor = _page("models", {**SECRETS, "visitors": True})
    assert "Your disk quota" not in _said(visitor)


DEMO = {"demo": True}
DEMO_SENTENCE = "This is a read-only demo"


@pytest.mark.parametrize("page, control", [("train", "FormSubmitter:train_form-Train"),
                                           ("models", "model-upload-go"),
                                           ("data", "data_upload_submit")])
def test_demo_mode_replaces_training_and_uploads_with_a_sentence(page: str,
                                                                 control: str) -> None:
    app = _page(page, DEMO)
    assert not _has_button(app, control)
    assert DEMO_SENTENCE in _said(app)


def test_in_demo_mode_drawing_still_predicts_but_saving_is_off() -> None:
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill="white", width=18)
    app = _page("draw", DEMO, draw_image_override=np.asarray(image))
    assert app.subheader[0].value.startswith("Prediction: 1")
    assert not _has_button(app, "FormSubmitter:save_example-Save as example")
    assert DEMO_SENTENCE in _said(app)


def _has_button(app: AppTest, key: str) -> bool:
    try:
        app.button(key=key)
    except KeyError:
        return False
    return True


def test_with_visitors_allowed_a_visitor_explores_but_is_told_to_sign_in_to_train() -> None:
    home = _app({**SECRETS, "visitors": True}).run()
    assert home.title[0].value == "Keras workbench"
    assert [t.label for t in home.sidebar.text_input] == ["User name", "Password"]
    app = _page("train", {**SECRETS, "visitors": True})
    assert not _has_button(app, "FormSubmitter:train_form-Train")
    assert "read-only for visitors" in _said(app) and "Sign in to do more" in _said(app)


@pytest.mark.parametrize("page, control", [("models", "model-upload-go"),
                                           ("train", "FormSubmitter:train_form-Train")])
def test_a_page_run_without_the_router_still_refuses_writes_to_nobody(page: str,
                                                                      control: str) -> None:
    """Defence in depth: were the sign-in gate skipped, the page's own check still holds."""
    app = AppTest.from_file(str(REPO_ROOT / "views" / f"{page}.py"), default_timeout=120)
    app.secrets["workbench"] = SECRETS
    app.run()
    assert not app.exception, app.exception
    assert not _has_button(app, control)
    assert "Sign in to do more" in _said(app)


def test_a_visitor_can_download_exports_but_not_start_one(bobs_model) -> None:
    visitor = _page("models", {**SECRETS, "visitors": True})
    assert not _has_button(visitor, f"prepare-tflite-{bobs_model}")
    assert "Sign in to prepare the TFLite (float32) file" in _said(visitor)
    bob = _page("models", SECRETS, user="bob")
    assert _has_button(bob, f"prepare-tflite-{bobs_model}")


def test_an_admin_clears_one_persons_drawings_from_data() -> None:
    from dashcore.datasets import drawings

    settings = get_settings()
    image = np.zeros((28, 28), np.uint8)
    for label in ("junk0", "junk1"):
        drawings.save_drawing(image, label, settings=settings, user=User("bob"))
    drawings.save_drawing(image, 4, settings=settings, user=User("carol"))
    carol = _page("data", SECRETS, user="carol", data_dataset="Your drawings")
    assert not _has_button(carol, "data_clear_go")
    app = _page("data", SECRETS, user="alice", data_dataset="Your drawings")
    app.selectbox(key="data_clear_owner").select("bob").run()
    app.button(key="data_clear_go").click().run()
    assert not app.exception, app.exception
    assert "Deleted 2 drawings of 'bob'." in _said(app)
    assert drawings.owners_of_drawings(settings) == {"carol": 1}
