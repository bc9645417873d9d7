"""The canvas picture as sent by the browser (PNG bytes), decoded within bounds.

The canvas component sends its picture as a PNG data URL. A forged one of 0.7 MB can claim
12000×12000 pixels (2.2 GB once decoded), so the PNG header is read first and the picture
is decoded only when its byte size and pixel count are under this server's limits
(``DASHCORE_DRAWING_KB``, ``DASHCORE_CANVAS_PIXELS``). Pillow's own decompression-bomb
error, and anything else that is not a readable PNG, become a sentence.

Example:
    >>> rgba = decode_canvas_png(result.image_bytes, settings.limits)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from dashcore.errors import UserError
from dashcore.settings import Limits, limit_setting

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_canvas_png(png: bytes, limits: Limits) -> tuple[int, int]:
    """(width, height) of a canvas PNG after checking its size and header, undecoded.

    Raises:
        UserError: not a PNG, over ``DASHCORE_DRAWING_KB``, or over ``DASHCORE_CANVAS_PIXELS``.
    """
    max_bytes = limits.drawing_kb * 1024
    if len(png) > max_bytes:
        raise UserError(f"The drawing's picture is {len(png) / 1024:,.0f} KB; the limit is "
                        f"{limits.drawing_kb:,} KB (a canvas drawing is a few KB). Clear the "
                        f"canvas and draw again. {limit_setting('drawing_kb')}")
    if not png.startswith(PNG_MAGIC):
        raise UserError("The drawing's picture is not a PNG image, which the canvas always "
                        "sends. Reload the page and draw again.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our cap decides
            with Image.open(io.BytesIO(png)) as image:  # reads the header only
                width, height = image.size
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"The drawing's picture could not be read ({type(exc).__name__}). "
                        "Reload the page and draw again.") from None
    if width * height > limits.canvas_pixels:
        raise UserError(f"The drawing's picture is {width:,}×{height:,} pixels; the limit is "
                        f"{limits.canvas_pixels:,} pixels (the canvas is 280×280). Reload the "
                        f"page and draw again. {limit_setting('canvas_pixels')}")
    return width, height


def decode_canvas_png(png: bytes, limits: Limits) -> np.ndarray:
    """The canvas as an RGBA uint8 array ``(H, W, 4)``, decoded only within the limits.

    Raises:
        UserError: see :func:`check_canvas_png`, or a PNG whose pixel data is damaged.
    """
    check_canvas_png(png, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our cap decides
            with Image.open(io.BytesIO(png)) as image:
                return np.asarray(image.convert("RGBA"))
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"The drawing's picture could not be read ({type(exc).__name__}). "
                        "Reload the page and draw again.") from None
