"""Factories for awkward image files: the uploads a shop will eventually send us.

Every factory returns the file's bytes, built here in memory so the tests need no binary fixtures.
"""
from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


@lru_cache(maxsize=4)
def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of side×side pixels that compresses to a few dozen kilobytes."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def corrupt_png() -> bytes:
    """A PNG with a valid header whose compressed pixel data is garbage."""
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"garbage" * 20) + _png_chunk(b"IEND", b"")


def truncated_jpeg(photo: Path) -> bytes:
    """A real photo cut off half way, as an interrupted upload leaves it."""
    return truncated_jpeg_bytes(photo.read_bytes())


def truncated_jpeg_bytes(data: bytes) -> bytes:
    return data[: len(data) // 2]


def cmyk_jpeg(colour: tuple[int, int, int] = RED) -> bytes:
    return encode(Image.new("RGB", (64, 64), colour).convert("CMYK"), "JPEG", quality=95)


def rgba_png(colour: tuple[int, int, int] = RED) -> bytes:
    """Left half opaque `colour`, right half fully transparent."""
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (32, 64), colour + (255,)), (0, 0))
    return encode(image, "PNG")


def greyscale_jpeg(level: int = 128) -> bytes:
    return encode(Image.new("L", (64, 64), level), "JPEG", quality=95)


def grey16_png(level: int = 32768) -> bytes:
    return encode(Image.fromarray(np.full((64, 64), level, dtype=np.uint16)), "PNG")


def palette_png_with_transparency() -> bytes:
    """A palette image whose index 0 is transparent (left half) and index 1 is red (right half)."""
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * 762)
    image.paste(1, (32, 0, 64, 64))
    return encode(image, "PNG", transparency=0)


def exif_rotated_jpeg() -> bytes:
    """Stored 80×40 landscape, red left and blue right, with EXIF orientation 6 (display rotated 90° clockwise).

    Shown upright it is a 40×80 portrait, red on top and blue below.
    """
    image = Image.new("RGB", (80, 40), BLUE)
    image.paste(Image.new("RGB", (40, 40), RED), (0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def exif_rotated_photo(photo: Path) -> bytes:
    """A real photo stored turned a quarter left, with EXIF orientation 6 saying "turn it right to display"."""
    image = Image.open(photo).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image.rotate(90, expand=True), "JPEG", quality=95, exif=exif.tobytes())


def heic(data: bytes) -> bytes:
    """The photo as an iPhone saves it: HEIC (HEVC in a HEIF container), encoded by libheif through pillow-heif."""
    import pillow_heif

    pillow_heif.register_heif_opener()  # Pillow's own save then writes HEIF
    return encode(Image.open(io.BytesIO(data)).convert("RGB"), "HEIF", quality=90)


def not_an_image() -> bytes:
    return b"%PDF-1.4\n% definitely a document, not a photo\n"
