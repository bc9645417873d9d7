"""One uploaded or photographed image → a square uint8 array a model can train on.

Shared by the zip-of-class-folders importer and the webcam collector. Decoding is bounded:
Pillow reads the header first (size, format) without decoding pixels, and an image over
the pixel limit, of an unexpected format, or too small is refused before any pixel is
decoded. Images keep their aspect ratio: the longer side is scaled to the target and the
rest is padded with black, centred.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from dashcore.datasets.base import MIN_SIDE
from dashcore.errors import UserError

# Pillow plugins allowed to open an upload (its JPEG plugin also opens camera "MPO" JPEGs).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
TARGET_SIDES = (28, 32, 64)  # the sizes /data offers, in pixels
COLOUR_MODES = {"grey": 1, "rgb": 3}  # colour mode → channels


Image.init()  # register every plugin now: Image.open(formats=...) needs WEBP loaded
# Images over Pillow's own bomb threshold warn on open; our pixel limit (lower) refuses them.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageProblem(UserError):
    """Why one image cannot be used (the importer turns it into one line, not a refusal)."""


def check_target(side: int, colour: str) -> int:
    """Validate a target size and colour mode; returns the number of channels."""
    if colour not in COLOUR_MODES:
        raise UserError(f"Colour mode {colour!r} is not offered: choose 'grey' or 'rgb'.")
    if isinstance(side, bool) or not isinstance(side, int) or not MIN_SIDE <= side <= 256:
        raise UserError(f"Image size {side!r} is not allowed: choose e.g. "
                        f"{', '.join(map(str, TARGET_SIDES))} pixels (8 to 256).")
    return COLOUR_MODES[colour]


class PixelBudget:
    """Pixels one import may still decode, summed over its images (a zip of 41,000 small
    files can each claim 25 megapixels: the per-image limit alone lets that through).

    ``spend`` is called with each image's header size before it is decoded.
    """

    def __init__(self, megapixels: int, setting: str) -> None:
        self.limit = megapixels * 1_000_000
        self.spent = 0
        self.setting = setting  # the sentence naming the limit's setting

    def refusal(self, total: int) -> UserError:
        """The sentence for an import whose images hold ``total`` pixels together."""
        return UserError(f"The images hold over {total / 1e6:,.0f} megapixels together; at "
                         f"most {self.limit / 1e6:,.0f} megapixels are decoded per import. "
                         f"Upload fewer or smaller images. {self.setting}")

    def spend(self, pixels: int) -> None:
        """Count one image's pixels; refuse the whole import once past the budget."""
        self.spent += pixels
        if self.spent > self.limit:
            raise self.refusal(self.spent)


def header_pixels(head: bytes) -> int | None:
    """Width × height from the first bytes of an image file, decoding no pixel; None when
    those bytes do not say (not an image, damaged, or the header lies further in)."""
    try:
        with Image.open(io.BytesIO(head), formats=FORMATS) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - any parser failure: the decode pass reports it
        return None
    return width * height


def decode_image(data: bytes, side: int, channels: int, max_pixels: int,
                 budget: PixelBudget | None = None) -> np.ndarray:
    """Decode one image file into ``(side, side)`` grey or ``(side, side, 3)`` RGB uint8.

    Transparent pixels become black (the padding colour); animated GIFs give their first
    frame; JPEGs are decoded at a reduced scale when they are much larger than ``side``.

    ``budget``, when given, is charged with the header's pixel count before decoding.

    Raises:
        ImageProblem: not an image, an unsupported format, too many pixels, too small, or
            corrupt, in words a person can act on.
        UserError: decoding this image would pass ``budget`` (the whole import stops).
    """
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageProblem(f"has over {Image.MAX_IMAGE_PIXELS:,} pixels; images up to "
                           f"{max_pixels / 1e6:g} megapixels are accepted") from None
    except UnidentifiedImageError:
        raise ImageProblem("not a readable image (damaged, or not a PNG, JPEG, GIF, BMP or "
                           "WebP file)") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure means "corrupt header"
        raise ImageProblem(f"corrupt: its header could not be read ({type(exc).__name__})"
                           ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageProblem(f"is {width}×{height} ({width * height / 1e6:.1f} megapixels); "
                           f"images up to {max_pixels / 1e6:g} megapixels are accepted")
    if min(width, height) < MIN_SIDE:
        raise ImageProblem(f"too small ({width}×{height}); images need at least {MIN_SIDE} "
                           "pixels a side")
    if budget is not None:
        budget.spend(width * height)
    if image.format in ("JPEG", "MPO"):
        image.draft("L" if channels == 1 else "RGB", (side, side))  # DCT-scaled decode
    mode = "L" if channels == 1 else "RGB"
    try:
        image.load()
        picture = image if image.mode == mode else _flatten_alpha(image).convert(mode)
    except Exception as exc:  # noqa: BLE001 - truncated or damaged pixel data
        raise ImageProblem(f"corrupt: its pixels could not be decoded ({type(exc).__name__})"
                           ) from None
    return fit_square(picture, side)


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparency over black, so transparent areas look like the padding."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        background.alpha_composite(rgba)
        return background
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit/float grey: scale to 8 bit
        pixels = np.asarray(image, dtype=np.float64)
        top = float(pixels.max()) or 1.0
        return Image.fromarray(np.round(pixels / top * 255).astype(np.uint8), mode="L")
    return image


def fit_square(picture: Image.Image, side: int) -> np.ndarray:
    """Scale the longer side to ``side`` (aspect kept) and pad to a centred square."""
    width, height = picture.size
    if (width, height) != (side, side):
        scale = side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        canvas = Image.new(picture.mode, (side, side), 0)
        canvas.paste(resized, ((side - size[0]) // 2, (side - size[1]) // 2))
        picture = canvas
    return np.asarray(picture, dtype=np.uint8)
