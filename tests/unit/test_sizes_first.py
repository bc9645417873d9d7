"""Sizes are known before bytes are spent: an .npz is judged by its .npy headers before any
array is inflated, loaded uploads stay within a server-wide memory budget, upload names
cannot leave the datasets folder, and canvas pictures are measured before they are decoded.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from dashcore.datasets import catalog, uploads
from dashcore.datasets.base import UPLOAD_PREFIX
from dashcore.errors import NotFoundError, UserError
from dashcore.inference.canvas import decode_canvas_png
from dashcore.settings import get_settings
from tests.helpers.datasets import arrays, bomb_npz, forged_png, npz


def _peak_mb(action) -> float:
    tracemalloc.start()
    try:
        action()
    except UserError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def test_a_decompression_bomb_is_refused_from_its_headers_without_inflating_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = bomb_npz()  # 131 MB of pixels in a file of a few hundred KB
    assert len(data) < 1_000_000
    monkeypatch.setenv("DASHCORE_DATASET_MB", "100")
    with pytest.raises(UserError, match="132 MB once decompressed; the limit is 100 MB"):
        uploads.save_uploaded_dataset("bomb", data, settings=get_settings())
    assert _peak_mb(lambda: uploads.save_uploaded_dataset("bomb", data,
                                                          settings=get_settings())) < 20


def test_the_image_count_is_checked_before_any_array_is_inflated(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = bomb_npz()
    monkeypatch.setenv("DASHCORE_MAX_DATASET_IMAGES", "1000")
    with pytest.raises(UserError, match="2,012 images; the limit is 1,000"):
        uploads.save_uploaded_dataset("bomb", data, settings=get_settings())
    assert _peak_mb(lambda: uploads.save_uploaded_dataset("bomb", data,
                                                          settings=get_settings())) < 20


def test_loaded_uploads_stay_within_the_cache_budget_least_recent_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_DATASET_CACHE_MB", "1")
    catalog._uploads_cache.clear()
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):  # ~0.4 MB of pixels each
        uploads.save_uploaded_dataset(name, npz(**{k: v for k, v in arrays(
            n_train=500, seed=seed).items()}), settings=get_settings())
    first = catalog.load_dataset(UPLOAD_PREFIX + "a", settings=get_settings())
    assert catalog.load_dataset(UPLOAD_PREFIX + "a", settings=get_settings()) is first  # cached
    catalog.load_dataset(UPLOAD_PREFIX + "b", settings=get_settings())
    catalog.load_dataset(UPLOAD_PREFIX + "c", settings=get_settings())
    assert catalog._uploads_cache.held_bytes() <= 1_000_000
    assert catalog.load_dataset(UPLOAD_PREFIX + "a",
                                settings=get_settings()) is not first  # evicted, read again
    assert not first.x_train.flags.writeable  # shared arrays cannot be changed by a page


def test_an_upload_name_cannot_reach_outside_the_datasets_folder(dashcore_home: Path,
                                                                 settings) -> None:
    outside = dashcore_home.parent / "x.npz"
    outside.write_bytes(npz())  # a readable dataset two levels above the datasets folder
    get_settings().ensure_dirs()
    for name in ("upload:../../x", "upload:../datasets/x", "upload:/etc/passwd"):
        with pytest.raises(NotFoundError, match="There is no uploaded dataset called"):
            catalog.load_dataset(name, settings=settings)
    assert uploads.dataset_owner("upload:../../x", settings=settings) is None


def test_a_forged_canvas_of_12000_pixels_a_side_is_refused_before_decoding() -> None:
    limits = get_settings().limits
    png = forged_png(12_000, 12_000)
    with pytest.raises(UserError, match="12,000×12,000 pixels; the limit is 4,000,000"):
        decode_canvas_png(png, limits)
    assert "DASHCORE_CANVAS_PIXELS" in _message(lambda: decode_canvas_png(png, limits))


def test_pillows_bomb_error_becomes_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_CANVAS_PIXELS", str(10**9))
    message = _message(lambda: decode_canvas_png(forged_png(16_000, 16_000),
                                                 get_settings().limits))
    assert "could not be read (DecompressionBombError)" in message and "draw again" in message


def test_a_real_canvas_picture_decodes_to_rgba() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 255)).save(buffer, format="PNG")
    assert decode_canvas_png(buffer.getvalue(), get_settings().limits).shape == (280, 280, 4)


def _message(action) -> str:
    with pytest.raises(UserError) as caught:
        action()
    return str(caught.value)
