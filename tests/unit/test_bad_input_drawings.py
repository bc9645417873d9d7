"""Bad input: the /draw canvas and 'Save as example'.

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashcore.datasets import drawings
from dashcore.inference.canvas import decode_canvas_png
from dashcore.inference.preprocess import EMPTY_MESSAGE
from dashcore.settings import get_settings
from tests.helpers.corpus import BLANK_RGBA, Case, canvas, check_case, save_drawing
from tests.helpers.datasets import forged_png

CASES: dict[str, Case] = {
    "draw-empty-canvas": Case("draw", canvas(BLANK_RGBA), (EMPTY_MESSAGE,)),
    "draw-canvas-not-an-image": Case("draw", canvas(np.zeros(280, np.uint8)),
                                     ("Expected a grey, RGB or RGBA image", "shape (280,)"),
                                     error=ValueError),
    "draw-label-10": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), 10),
                          ("Label 10 is not a digit", "0 to 9")),
    "draw-label-float": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), 7.5),
                             ("Label 7.5 is not a digit", "class name of your own")),
    "draw-class-name-with-newline": Case("draw", save_drawing(
        np.zeros((28, 28), np.uint8), "circle\nsquare"),
        ("Class name 'circle\\nsquare' contains an invisible or control character",)),
    "draw-class-name-bidi-override": Case("draw", save_drawing(
        np.zeros((28, 28), np.uint8), "abc\u202edef"), ("U+202E",)),
    "draw-class-name-too-long": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), "x" * 41),
                                     ("A class name needs 1 to 40 characters; got 41",)),
    "draw-class-name-blank": Case("draw", save_drawing(np.zeros((28, 28), np.uint8), "   "),
                                  ("A class name needs 1 to 40 characters; got 0",)),
    "draw-whole-canvas-not-28x28": Case("draw", save_drawing(np.zeros((280, 280), np.uint8)),
                                        ("must be the 28×28 image", "got shape (280, 280)")),
    "draw-text-pixels": Case("draw", save_drawing(np.full((28, 28), "x")),
                             ("must hold pixel numbers", "got dtype <U1")),
    "draw-nan-pixels": Case("draw", save_drawing(np.full((28, 28), np.nan)),
                            ("contains NaN or infinite values",)),
    "draw-forged-canvas-12000-px": Case(
        "draw", lambda r: decode_canvas_png(forged_png(12_000, 12_000), get_settings().limits),
        ("12,000×12,000 pixels", "DASHCORE_CANVAS_PIXELS")),
    "draw-canvas-pillow-bomb": Case(
        "draw", lambda r: decode_canvas_png(forged_png(16_000, 16_000), get_settings().limits),
        ("could not be read (DecompressionBombError)",),
        env={"DASHCORE_CANVAS_PIXELS": "1000000000"}),
    "draw-saved-picture-600-kb": Case(
        "draw", save_drawing(np.zeros((28, 28), np.uint8), 3, b"\x89PNG" + bytes(600 << 10)),
        ("600 KB; the limit is 512 KB", "DASHCORE_DRAWING_KB"),
        env={"DASHCORE_DRAWING_KB": "512"}),
    "draw-saved-picture-not-png": Case(
        "draw", save_drawing(np.zeros((28, 28), np.uint8), 3, b"GIF89a" + bytes(100)),
        ("not a PNG image",)),
    "draw-canvas-not-png": Case(
        "draw", lambda r: drawings.save_drawing(np.zeros((28, 28), np.uint8), 3,
                                                b"GIF89a" + bytes(60_000_000),
                                                settings=get_settings()),
        ("58,594 KB; the limit is 1,024 KB", "DASHCORE_DRAWING_KB")),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
