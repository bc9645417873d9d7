"""The environment parser: every DASHCORE_* value is checked when settings are read, and a
wrong one is refused with a sentence naming the variable, the value, what is allowed and
the default; the server's first page and the worker's log show that sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from dashcore.settings import (
    ENVIRONMENT,
    LIMIT_ENV,
    Limits,
    Settings,
    SettingsError,
    read_settings,
)
from tests.helpers import REPO_ROOT
from tests.helpers.pages import open_page

NUMERIC = [s for s in ENVIRONMENT if isinstance(s.default, int | float)]


def refusal(environ: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        read_settings(environ)
    return caught.value


@pytest.mark.parametrize(("name", "value", "allowed", "default"), [
    ("DASHCORE_MAX_EPOCHS", "abc", "a whole number, 0 or more", "200"),
    ("DASHCORE_JOB_MAX_MINUTES", "nan", "a number, 0 or more", "240"),
    ("DASHCORE_UPLOAD_MB", "12.5", "a whole number", "100"),
    ("DASHCORE_CONCURRENT_JOBS", "0", "a whole number, 1 or more", "1"),
    ("DASHCORE_IMPORT_WORKERS", "0", "a whole number, 1 or more", "1"),
    ("DASHCORE_RAY_GPUS", "-1", "a number, 0 or more", "0"),
    ("DASHCORE_BACKEND", "foo", "local or ray", "local"),
    ("DASHCORE_DB", "mysql://db-host/runs", "a sqlite:/// or postgresql:// URL", "empty"),
    ("DASHCORE_ARTIFACTS", "nosuchstore://bucket/p", "an fsspec URL", "empty"),
])
def test_a_wrong_value_is_refused_naming_the_variable_the_value_what_is_allowed_and_the_default(
        name: str, value: str, allowed: str, default: str) -> None:
    message = str(refusal({name: value}))
    assert message.startswith(f"{name} is {value!r}: it must be ")
    assert allowed in message and f"(the default is {default})" in message


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda s: s.name)
@pytest.mark.parametrize("value", ["abc", "-1", "inf"])
def test_every_number_setting_refuses_text_negatives_and_infinity(setting, value) -> None:
    assert refusal({setting.name: value}).problems == [setting.refusal(value)]


def test_a_file_where_the_data_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert "DASHCORE_HOME is" in str(refusal({"DASHCORE_HOME": str(tmp_path / "file")}))


def test_every_wrong_value_is_named_at_once_and_a_password_is_never_shown() -> None:
    error = refusal({"DASHCORE_MAX_EPOCHS": "lots", "DASHCORE_BACKEND": "slurm",
                     "DASHCORE_DB": "mysql://ann:s3cret@db-host/runs"})
    assert [p.split(" is ")[0] for p in error.problems] == [
        "DASHCORE_MAX_EPOCHS", "DASHCORE_DB", "DASHCORE_BACKEND"]
    assert "s3cret" not in str(error) and "mysql://ann:***@db-host/runs" in str(error)


def test_unset_or_blank_values_give_the_defaults_and_good_ones_are_read() -> None:
    assert read_settings({}) == Settings()
    assert read_settings({s.name: "  " for s in ENVIRONMENT}) == Settings()
    settings = read_settings({"DASHCORE_MAX_EPOCHS": " 3 ", "DASHCORE_JOB_MAX_MINUTES": "0.05",
                              "DASHCORE_BACKEND": "Ray", "RAY_ADDRESS": "http://head:8265",
                              "DASHCORE_DB": "postgresql://u:p@h/db",
                              "DASHCORE_ARTIFACTS": "s3://bucket/prefix"})
    assert (settings.limits.max_epochs, settings.limits.job_max_minutes) == (3, 0.05)
    assert (settings.backend, settings.ray_address) == ("ray", "http://head:8265")
    assert (settings.db, settings.artifacts) == ("postgresql://u:p@h/db", "s3://bucket/prefix")


def test_what_a_server_hands_its_workers_reads_back_as_the_same_settings(tmp_path: Path) -> None:
    settings = replace(Settings(home=tmp_path), concurrent_jobs=2, worker_threads=3,
                       backend="ray", ray_address="http://head:8265", ray_cpus=2.5,
                       limits=replace(Limits(), max_epochs=7, job_max_minutes=0.5))
    assert read_settings(settings.worker_env()) == settings


def test_every_limit_and_setting_has_one_variable_in_the_parser() -> None:
    names = [s.name for s in ENVIRONMENT]
    assert len(names) == len(set(names))
    assert set(LIMIT_ENV.values()) <= set(names)
    targets = {s.target for s in ENVIRONMENT}
    assert {f"limits.{name}" for name in Limits.__dataclass_fields__} <= targets
    assert set(Settings.__dataclass_fields__) - {"limits"} <= targets


def test_the_server_s_first_page_says_which_setting_is_wrong(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_MAX_EPOCHS", "abc")
    app = open_page("home", check=False)
    assert not app.exception
    shown = [e.value.replace("\\", "") for e in app.error]  # as Markdown renders it
    assert shown == [
        "DASHCORE_MAX_EPOCHS is 'abc': it must be a whole number, 0 or more (the default is "
        "200). Fix it or unset it to use the default."]
    assert app.title[0].value == "This server's settings need fixing"


def test_a_worker_started_with_a_wrong_value_says_it_in_its_log_and_trains_nothing(
        dashcore_home: Path) -> None:
    env = {**os.environ, "DASHCORE_BACKEND": "foo"}
    done = subprocess.run([sys.executable, "-m", "dashcore.jobs.worker", "r-any"], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert ("run r-any was not started: DASHCORE_BACKEND is 'foo': it must be local or ray "
            "(the default is local)") in done.stderr
    assert not dashcore_home.exists()  # nothing was created or written

