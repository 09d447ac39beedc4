"""The photo check (api/intake/photo.py): every format a store or a phone sends is read, and stored under its own
media type, whatever the upload said it was."""
from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from api.intake.photo import check
from tests.support import images as make


@pytest.mark.parametrize("pillow_format, media_type", [
    ("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif"),
    ("AVIF", "image/avif"), ("TIFF", "image/tiff"), ("BMP", "image/bmp")])
def test_each_format_is_read_and_named_by_what_it_is(pillow_format, media_type):
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (180, 40, 40)).save(buffer, pillow_format)
    photo = asyncio.run(check(buffer.getvalue(), None, 10 * 1024 * 1024))
    assert (photo.content_type, photo.width, photo.height) == (media_type, 320, 240)


def test_a_heic_photo_is_kept_and_sent_on_as_a_jpeg_of_it():
    """What an iPhone saves: read through libheif, and kept as JPEG, which every browser and the model server read."""
    red = Image.new("RGB", (320, 240), (180, 40, 40))
    photo = asyncio.run(check(make.heic(make.encode(red, "PNG")), None, 10 * 1024 * 1024))
    assert (photo.content_type, photo.width, photo.height) == ("image/jpeg", 320, 240)
    assert photo.model_input == photo.data
    stored = Image.open(io.BytesIO(photo.data))
    assert stored.format == "JPEG" and stored.size == (320, 240)
    assert all(abs(a - b) <= 6 for a, b in zip(stored.getpixel((160, 120)), (180, 40, 40)))
