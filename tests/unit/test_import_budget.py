"""A zip import's CPU is bounded: cheap checks before decoding, a pixel budget for the whole
archive, and a limited worker process with a time limit, one import at a time per person."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dashcore.access.auth import User
from dashcore.datasets import catalog, image_folders, images, zip_import
from dashcore.datasets.image_folders import ImportOptions
from dashcore.errors import UserError
from dashcore.limited import WorkGate
from dashcore.settings import Limits, get_settings
from tests.helpers.datasets import big_pngs_zip, shapes_zip, zeros_png


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the images the importer decodes."""
    calls: list[int] = []
    real = image_folders.decode_image

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_folders, "decode_image", counting)
    return calls


def test_a_zip_with_too_many_classes_is_refused_before_any_image_is_decoded(
        decodes: list[int]) -> None:
    data = big_pngs_zip(classes=101, per_class=2)
    with pytest.raises(UserError, match="The zip has 101 class folders; at most 100"):
        image_folders.read_class_folders(data, "t", ImportOptions(side=28, colour="grey"),
                                         Limits())
    assert decodes == []


def test_the_images_pixels_are_summed_from_their_headers_before_decoding(
        decodes: list[int]) -> None:
    data = big_pngs_zip(classes=2, per_class=3)  # 6 × 25 megapixels
    with pytest.raises(UserError) as refused:
        image_folders.read_class_folders(data, "t", ImportOptions(side=28, colour="grey"),
                                         Limits(import_megapixels=100))
    assert str(refused.value) == (
        "The images hold over 150 megapixels together; at most 100 megapixels are decoded "
        "per import. Upload fewer or smaller images. This server's limit is set by "
        "DASHCORE_IMPORT_MEGAPIXELS.")
    assert decodes == []


def test_a_header_past_the_first_bytes_is_still_charged_before_its_pixels_are_decoded(
) -> None:
    budget = images.PixelBudget(30, "")
    images.decode_image(zeros_png(), 28, 1, 25_000_000, budget)  # 25 of 30 megapixels
    with pytest.raises(UserError, match="over 50 megapixels together"):
        images.decode_image(zeros_png(), 28, 1, 25_000_000, budget)
    assert budget.spent == 50_000_000


def _files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()) \
        if home.exists() else []


def _import(data: bytes, user: User | None = None) -> None:
    zip_import.import_zip("big", data, ImportOptions(side=28, colour="grey"),
                          get_settings().ensure_dirs(), user=user)


def test_an_import_past_its_cpu_limit_ends_with_a_sentence_and_stores_nothing(
        monkeypatch: pytest.MonkeyPatch, dashcore_home: Path) -> None:
    monkeypatch.setenv("DASHCORE_IMPORT_CPU_SECONDS", "1")
    data = big_pngs_zip(classes=2, per_class=30)  # ~60 ms of decoding each: ~4 CPU-seconds
    with pytest.raises(UserError) as refused:
        _import(data, User("ann"))
    assert str(refused.value) == (
        "Reading these images used more than 1 s of processor time, so the import was "
        "stopped and nothing was stored. Upload fewer or smaller images. This server's "
        "limit is set by DASHCORE_IMPORT_CPU_SECONDS.")
    assert _files(dashcore_home) == []


def test_an_import_past_its_wall_clock_limit_is_stopped_with_a_sentence(
        monkeypatch: pytest.MonkeyPatch, dashcore_home: Path) -> None:
    monkeypatch.setenv("DASHCORE_IMPORT_MAX_SECONDS", "0.5")
    with pytest.raises(UserError) as refused:
        _import(big_pngs_zip(classes=2, per_class=30), User("ann"))
    assert str(refused.value).startswith("Reading these images took longer than 0.5 s, so the "
                                         "import was stopped and nothing was stored.")
    assert "DASHCORE_IMPORT_MAX_SECONDS" in str(refused.value)
    assert _files(dashcore_home) == []


def test_one_person_runs_one_import_at_a_time(dashcore_home: Path) -> None:
    with zip_import.IMPORTS.slot("ann", 1):  # ann's first import is still running
        with pytest.raises(UserError) as refused:
            _import(shapes_zip(), User("ann"))
    assert str(refused.value) == ("You already have one import running: wait for it to "
                                  "finish, then try again.")
    assert _files(dashcore_home) == []
    _import(shapes_zip(), User("ann"))  # once it has finished, the next one runs
    assert "upload:big" in catalog.list_datasets(get_settings())


def test_imports_beyond_the_workers_wait_and_beyond_the_queue_are_told_to_come_back() -> None:
    gate = WorkGate("one import", queue=1, wait_s=30)
    order: list[str] = []

    def bob() -> None:
        with gate.slot("bob", 1):
            order.append("bob")

    with gate.slot("ann", 1):
        waiting = threading.Thread(target=bob)
        waiting.start()
        while gate.waiting == 0:  # bob is queued behind ann
            time.sleep(0.01)
        with pytest.raises(UserError, match="The server is busy with other people's work"):
            with gate.slot("cy", 1):
                pass
        assert order == []
    waiting.join(timeout=30)
    assert order == ["bob"] and gate.running == 0
