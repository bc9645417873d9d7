"""A zip import's CPU is bounded: cheap checks before decoding, a pixel budget for the whole
archive, and a limited worker process with a time limit, one import at a time per person."""

from __future__ import annotations

import functools
import io

import pytest
from PIL import Image

from dashcore.datasets import image_folders, images
from dashcore.datasets.image_folders import ImportOptions
from dashcore.errors import UserError
from dashcore.settings import Limits
from tests.unit.test_image_folders import make_zip


@functools.lru_cache(maxsize=1)
def _zeros_png(side: int = 5000) -> bytes:
    """A black PNG of side×side: ~25 kB on disk, 25 megapixels once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def big_pngs_zip(classes: int, per_class: int) -> bytes:
    """Distinct 5000×5000 black PNGs (bytes after IEND differ, so none is a duplicate)."""
    blob = _zeros_png()
    return make_zip({f"c{c:03d}/{i}.png": blob + f"{c}-{i}".encode()
                     for c in range(classes) for i in range(per_class)})


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
    images.decode_image(_zeros_png(), 28, 1, 25_000_000, budget)  # 25 of 30 megapixels
    with pytest.raises(UserError, match="over 50 megapixels together"):
        images.decode_image(_zeros_png(), 28, 1, 25_000_000, budget)
    assert budget.spent == 50_000_000
