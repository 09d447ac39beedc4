"""Getting a photo in, from a multipart upload or a URL: size-checked, then checked by api/intake/photo.py.

The API and the WooCommerce worker read URLs through the same `SafeHttp` and check photos with the same `check`:
one policy for what a photo may be, wherever it comes from.
"""
from __future__ import annotations

import asyncio
from typing import Sequence

from fastapi import UploadFile
from pydantic import TypeAdapter, ValidationError

from api.core.limits import json_value
from api.core.errors import ApiError, validation_problems
from api.domain.errors import DomainError, PhotoRejected
from api.intake.fetch import SafeHttp
from api.intake.photo import Photo, check
from api.core.text import unplain
from api.schemas import Crop, Title

_CROPS = TypeAdapter(list[Crop | None])
_TITLES = TypeAdapter(list[Title | None])

CROP_HELP = 'a JSON crop box in the image\'s pixels, e.g. {"x": 10, "y": 20, "width": 200, "height": 260}'


def parse_crops(raw: str | None, count: int) -> list[Crop | None]:
    """The `crop` form field: one JSON box (or a list of boxes/nulls, one per image in a batch)."""
    return _per_image(raw, count, "crop", _CROPS, f"'crop' must be {CROP_HELP} (a list of them, null for none, in a "
                                                  "batch)", "crop boxes")


def parse_titles(raw: str | None, count: int) -> list[str | None]:
    """A batch's `titles` form field: a JSON list of the products' names (strings of 1–300 characters, or nulls),
    one per image."""
    return _per_image(raw, count, "titles", _TITLES, "'titles' must be a JSON list of the products' names, one per "
                                                     "image (null for none)", "names", single=False)


def _per_image(raw: str | None, count: int, field: str, adapter: TypeAdapter, expected: str, noun: str,
               single: bool = True) -> list:
    """A form field holding a JSON value per image of a request: one value for one image when `single`, else a list
    (of values or nulls) with one per image; each problem named where it is (`crop.width`, `crop[1].width`)."""
    if raw is None or raw == "":
        return [None] * count
    try:
        value = json_value(raw)
    except ValueError as error:
        raise ApiError(422, f"{expected}: it is not JSON ({error})") from None
    if not single and not isinstance(value, list):
        kind = {dict: "an object", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")
        raise ApiError(422, f"{expected}: it is {kind}, not a list")
    values = value if isinstance(value, list) else [value]
    try:
        parsed = adapter.validate_python(values)
    except ValidationError as error:
        items = [{**item, "loc": (f"{field}[{item['loc'][0]}]" if isinstance(value, list) else field, *item["loc"][1:])}
                 for item in error.errors(include_url=False)]
        raise ApiError(422, f"{expected}: {'; '.join(validation_problems(items))}") from None
    if len(parsed) != count:
        raise ApiError(422, f"{len(parsed)} {noun} for {count} images: give one per image, null for none")
    return parsed


MAX_FILE_NAME = 255  # what file systems hold


def file_name(upload: UploadFile) -> str:
    """The upload's file name as it is kept (the annotation's `source.filename`, shown in the console); PhotoRejected
    (invalid_file_name) for one longer than MAX_FILE_NAME or holding a control character or a bidirectional
    override ("a\u202egpj.exe" shows as "aexe.jpg"), as the shop's other text."""
    name = upload.filename or ""
    if len(name) > MAX_FILE_NAME:
        raise PhotoRejected(f"the file name is {len(name)} characters long; the limit is {MAX_FILE_NAME}: rename the "
                            "file", "invalid_file_name")
    if problem := unplain(name):
        raise PhotoRejected(f"the file name {problem}: rename the file", "invalid_file_name")
    return name


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes, unchecked; PhotoRejected (too_large) over the limit, (invalid_file_name) for a name
    `file_name` refuses."""
    file_name(upload)
    if upload.size is not None and upload.size > max_bytes:
        # Refused from the size the multipart parser counted, before the file is read into memory.
        raise PhotoRejected(f"{upload.filename!r} is {upload.size / 2**20:.1f} MiB; the limit is "
                            f"{max_bytes / 2**20:.1f} MiB", "too_large")
    return await upload.read()


async def fetch(http: SafeHttp, url: str, max_bytes: int) -> bytes:
    """The URL's bytes, unchecked; FetchError when the URL is refused, too large, failing or too slow."""
    return (await http.get(url, max_bytes=max_bytes)).body


async def from_upload(upload: UploadFile, crop: Crop | None, max_bytes: int) -> Photo:
    return await check(await read_upload(upload, max_bytes), crop, max_bytes)


async def from_url(http: SafeHttp, url: str, crop: Crop | None, max_bytes: int) -> Photo:
    return await check(await fetch(http, url, max_bytes), crop, max_bytes)


async def from_uploads(uploads: Sequence[UploadFile], max_bytes: int) -> list[Photo]:
    """All or nothing (a product's images): the first bad upload raises, naming which one."""
    photos = []
    for position, upload in enumerate(uploads):
        try:
            photos.append(await from_upload(upload, None, max_bytes))
        except DomainError as error:
            raise error.about(f"image {position + 1} ({upload.filename})") from None
    return photos


async def from_urls(http: SafeHttp, urls: Sequence[str], max_bytes: int) -> list[Photo]:
    """All or nothing, fetched concurrently; the first bad URL raises, naming which one."""
    results = await asyncio.gather(*(from_url(http, url, None, max_bytes) for url in urls), return_exceptions=True)
    for url, result in zip(urls, results):
        if isinstance(result, DomainError):
            raise result.about(url)
        if isinstance(result, BaseException):
            raise result
    return list(results)
