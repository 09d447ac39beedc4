"""Safe image decoding and preprocessing to a tensor: the one decoder for the handlers and the API.

Uploads are untrusted bytes. `decode_image` turns them into an 8-bit RGB `PIL.Image` or raises `ImageError`
with an HTTP status and a message that says what was wrong, so a bad upload fails alone and never takes a
worker down. The checks run before any pixel is decoded where possible (size, pixel count), because a
20000×20000 PNG is a few kilobytes on the wire and 1.2 GB once decoded.
"""
from __future__ import annotations

import io
import warnings
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from handlers.colours import WORK_SIDE, downscale
from handlers.garment_mask import BORDER_FRACTION, border_ring

MAX_BYTES = 20 * 1024 * 1024
# 40 megapixels covers every phone and shop camera; beyond it decoding costs hundreds of MB per image.
MAX_PIXELS = 40_000_000
# Transparent product cut-outs are shown on white in shops, so that is what the model should see.
BACKGROUND = (255, 255, 255)
# How a photo is framed for the model (`model_view`). A studio shot, a backdrop of near-white pixels (every channel at
# least STUDIO_WHITE, within STUDIO_SPREAD of each other) on at least STUDIO_SHARE of its border ring, is shown
# whole. Any other photo (a garment on a bed, a floor, a rail) is shown CLOSE_UP times closer, its edges cut off.
STUDIO_WHITE = 225 / 255
STUDIO_SPREAD = 15 / 255
STUDIO_SHARE = 0.5
CLOSE_UP = 8 / 7
# Named in the training feature caches' keys (kalas/features.py): features cached under another framing are
# stale. The ring is read the way the garment mask reads it, on the colour code's small copy of the photo.
FRAMING = (f"studio{STUDIO_WHITE:.4f}-{STUDIO_SPREAD:.4f}-{STUDIO_SHARE}-{WORK_SIDE}/{BORDER_FRACTION:.4f}"
           f"|close{CLOSE_UP:.4f}")


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
        raise ImageError(400, "the data is not an image Pillow can read (send JPEG, PNG, WebP, GIF, BMP or TIFF)") from None
    except Image.DecompressionBombError as error:
        raise ImageError(
            413, f"the image has too many pixels (the limit is {max_pixels / 1e6:.0f} megapixels): {error}"
        ) from None
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


def to_tensor(images: Sequence[Image.Image], size: int, mean: Sequence[float], std: Sequence[float], *,
              memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """RGB images → one normalised float tensor [B, 3, size, size] in `memory_format`.

    Each image is framed by `model_view`. The pixels are gathered as one uint8 array
    and normalised in whole-batch operations, with bit-for-bit the same results as image by image: measured here
    on a batch of 32, 0.25 ms per image instead of 0.44 (the model takes about 5.3). Channels-last is the layout
    those pixels already have, so asking for it (as the handlers do) costs no copy.
    """
    pixels = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        pixels[i] = model_view(image, size)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()  # NCHW shape over channels-last memory
    batch.div_(255.0).sub_(mean_t).div_(std_t)  # the same arithmetic, in the same order, as training has seen
    return batch.contiguous(memory_format=memory_format)


def model_view(image: Image.Image, size: int) -> np.ndarray:
    """The RGB pixels [size, size, 3] the model is shown for `image`.

    The photo is padded to a square on white and resized, so the whole garment stays in view undistorted (a
    centre crop of the photo itself would cut the hem or the sleeves off a portrait). A photo that is not a
    studio shot (`is_studio_shot`) is shown CLOSE_UP times closer: padded at 8/7 of `size`, its central `size`
    pixels. Training shows the network crops keeping 55–100% of a photo (kalas/features.py), so it knows
    garments a little larger than the whole frame shows them; on consumer photos the closer view scored about
    two points higher, on studio shots a little lower (docs/model_card.md, "Framing").
    """
    wide = size if is_studio_shot(image) else round(size * CLOSE_UP)
    padded = ImageOps.pad(image, (wide, wide), method=Image.Resampling.BILINEAR, color=BACKGROUND)
    offset = (wide - size) // 2
    return np.asarray(padded.crop((offset, offset, offset + size, offset + size)) if offset else padded)


def is_studio_shot(image: Image.Image) -> bool:
    """Whether the photo's border ring is mostly a white backdrop (the module's STUDIO_* settings).

    Read on the small copy the colour code works on (`downscale`), over the ring the garment mask reads its
    background from (`border_ring`). On the validation photos, 99.9% of fashion-products' shop photos and 0.5%
    of clothing's consumer photos are studio shots by this test.
    """
    small = downscale(image)
    ring = small[border_ring(*small.shape[:2])]
    low = ring.min(axis=1)
    backdrop = (low >= STUDIO_WHITE) & (ring.max(axis=1) - low <= STUDIO_SPREAD)
    return bool(backdrop.mean() >= STUDIO_SHARE)
