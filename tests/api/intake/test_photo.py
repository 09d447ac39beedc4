"""The photo check (api/intake/photo.py): every format a store or a phone sends is read, and stored under its own
media type, whatever the upload said it was."""
from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from api.intake.photo import check


@pytest.mark.parametrize("pillow_format, media_type", [
    ("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif"),
    ("AVIF", "image/avif"), ("TIFF", "image/tiff"), ("BMP", "image/bmp")])
def test_each_format_is_read_and_named_by_what_it_is(pillow_format, media_type):
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (180, 40, 40)).save(buffer, pillow_format)
    photo = asyncio.run(check(buffer.getvalue(), None, 10 * 1024 * 1024))
    assert (photo.content_type, photo.width, photo.height) == (media_type, 320, 240)
