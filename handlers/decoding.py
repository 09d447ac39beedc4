"""Safe decoding of untrusted image bytes: the one decoder for the handlers, the API and the worker.

Uploads are untrusted bytes. `decode_image` turns them into an 8-bit RGB `PIL.Image` or raises `ImageError`
with an HTTP status and a message that says what was wrong, so a bad upload fails alone and never takes a
worker down. The checks run before any pixel is decoded where possible (size, pixel count), because a
20000×20000 PNG is a few kilobytes on the wire and 1.2 GB once decoded.

Pillow and numpy only: the API and the worker check photos with it without importing torch (handlers/images.py
holds the tensor side).
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 20 * 1024 * 1024
# 40 megapixels covers every phone and shop camera; beyond it decoding costs hundreds of MB per image.
MAX_PIXELS = 40_000_000
# Transparent product cut-outs are shown on white in shops, so that is what the model should see.
BACKGROUND = (255, 255, 255)


class ImageError(ValueError):
    """An upload that cannot be used, with the HTTP status to answer it with (400 bad, 413 too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_image(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS, min_side: int | None = None
) -> Image.Image:
    """Decode untrusted bytes to an upright 8-bit RGB image.

    EXIF orientation is applied; CMYK, greyscale, palette, 16-bit and alpha images become RGB (alpha over white).
    `min_side` lets a JPEG decode at a reduced scale that still keeps both sides at least that long (much faster
    for phone photos). Raises ImageError: 400 for empty, non-image, truncated or corrupt data; 413 over the limits.
    """
    if not data:
        raise ImageError(400, "the request body is empty: send the image file's bytes")
    if len(data) > max_bytes:
        raise ImageError(413, f"the image is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns or raises at ~89 MP; ours below is stricter and gives a clearer message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(400, "the data is not an image Pillow can read (send JPEG, PNG, WebP, AVIF, HEIC, GIF, BMP or TIFF)") from None
    except Image.DecompressionBombError as error:  # Pillow's own message names its limit, not ours: the pixels alone
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(pixels.group(1)) / 1e6:.0f} megapixels)" if pixels else ""
        raise ImageError(413, f"the image has too many pixels{size}; the limit is {max_pixels / 1e6:.0f} megapixels "
                              "(resize it before sending)") from None
    except Exception as error:  # a malformed header can raise almost anything inside a plugin
        raise ImageError(400, f"the image header is corrupt ({type(error).__name__}: {error})") from None

    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(400, f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            413,
            f"the image is {width}x{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels (resize it before sending)",
        )
    if min_side and image.format == "JPEG":
        image.draft("RGB", _draft_size(image.size, min_side))
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except ImageError:
        raise
    except Exception as error:
        raise ImageError(400, f"the image is truncated or corrupt ({type(error).__name__}: {error})") from None


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The size to ask JPEG draft mode for so that the shorter side stays at least `min_side`."""
    scale = min_side / min(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _scale_to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode != "RGB":
        image = image.convert("RGB")  # L, 1, CMYK (Pillow undoes Adobe's inverted CMYK), YCbCr, LAB, HSV
    return image


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit greyscale → 8-bit by range, not by clipping (Pillow's convert turns them white)."""
    pixels = np.asarray(image, dtype=np.float64)
    peak = float(pixels.max())
    if image.mode == "F" and peak <= 1.0:
        top = 1.0
    elif image.mode.startswith("I;16") or peak > 255:
        top = max(65535.0, peak)
    else:
        top = 255.0
    scaled = np.clip(pixels * (255.0 / top), 0, 255).round().astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def warm_up_photo() -> bytes:
    """A JPEG shaped like a product photo: a dark blue garment-sized block on a light background. A handler answers
    it before it reports ready; the API asks the models about it to read what their answers carry."""
    image = Image.new("RGB", (240, 320), (236, 236, 232))
    image.paste((30, 50, 110), (60, 60, 180, 280))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
