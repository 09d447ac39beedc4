"""Turning untrusted upload bytes into a checked photo: decoded by the one safe decoder, crop box checked.

The stored image is the upload as it came (the shop's original); the model sees the crop when one is given.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image
from starlette.concurrency import run_in_threadpool

from api.core.errors import ApiError
from api.schemas import Crop
from handlers.images import ImageError, decode_image

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                  "BMP": "image/bmp", "TIFF": "image/tiff", "MPO": "image/jpeg"}


@dataclass(frozen=True)
class Photo:
    data: bytes          # the upload, stored as it came
    model_input: bytes   # what the model is sent: the upload, or the crop re-encoded
    content_type: str
    width: int           # upright (EXIF-rotated) size, the frame crop boxes are given in
    height: int
    crop: Crop | None


def _check_crop(crop: Crop, width: int, height: int) -> None:
    if crop.x + crop.width > width or crop.y + crop.height > height:
        raise ApiError(422, f"the crop box (x={crop.x}, y={crop.y}, width={crop.width}, height={crop.height}) "
                            f"reaches outside the {width}×{height} image: keep x+width ≤ {width} and y+height ≤ {height}",
                       "crop_outside_image")


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _header(data: bytes) -> tuple[str | None, int]:
    """(format, pixel count) from the image's header alone; (None, 0) when there is no readable header."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # decode_image gives the clear message
            with Image.open(io.BytesIO(data)) as header:
                return header.format, header.size[0] * header.size[1]
    except Exception:
        return None, 0


def prepare(data: bytes, crop: Crop | None, max_bytes: int, *, image_format: str | None = None) -> Photo:
    """Decode and check an upload (CPU-bound: see `check`). Raises ApiError (400/413/422).

    `image_format` is the header's format when the caller has already read it (the stored image's content type).
    """
    try:
        image = decode_image(data, max_bytes=max_bytes)
    except ImageError as error:
        raise ApiError(error.status, error.message, "too_large" if error.status == 413 else "not_an_image") from None
    content_type = _CONTENT_TYPES.get(image_format or _header(data)[0] or "", "application/octet-stream")
    width, height = image.size
    model_input = data
    if crop is not None:
        _check_crop(crop, width, height)
        model_input = _jpeg(image.crop((crop.x, crop.y, crop.x + crop.width, crop.y + crop.height)))
    return Photo(data, model_input, content_type, width, height, crop)


# Decoding a small photo (a 224×224 JPEG: about 0.3 ms) costs less on the event loop than the hand-off to a worker
# thread and back, which on a busy 2-core machine waits for the scheduler each way (measured: about 1.5 ms per
# request). Larger photos are decoded in a worker thread, so the loop keeps answering other requests meanwhile.
# A photo without a readable header is refused from it just as fast.
INLINE_PIXELS = 512 * 512
INLINE_BYTES = 256 * 1024


async def check(data: bytes, crop: Crop | None, max_bytes: int) -> Photo:
    """`prepare`, on the event loop for a small photo and in a worker thread for a large one."""
    if len(data) <= INLINE_BYTES:
        image_format, pixels = _header(data)
        if pixels <= INLINE_PIXELS:
            return prepare(data, crop, max_bytes, image_format=image_format)
    return await run_in_threadpool(prepare, data, crop, max_bytes)


def training_jpeg(data: bytes, crop: dict | None) -> bytes:
    """The stored image as the model saw it (cropped), as JPEG: what a training directory holds."""
    image = decode_image(data)
    if crop:
        image = image.crop((crop["x"], crop["y"], crop["x"] + crop["width"], crop["y"] + crop["height"]))
    return _jpeg(image)
