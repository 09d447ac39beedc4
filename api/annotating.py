"""Annotating photos for a shop: checked, sent to the model as one batch, stored with their images.

Photos without a crop box go to the model as they came while this process checks them (small photos on the
event loop, large ones in a worker thread: api/photos.py) and stores their images: the handlers decode with the
same guarded decoder (handlers/images.py), so the model sees nothing our check would have kept from it, and the
check and the image writes hide behind the model's latency instead of adding to it. A crop has to be cut out first, so those photos are checked before they are sent.

Each photo succeeds or fails alone and a failed photo leaves nothing stored; if storing fails, the images
already written are removed again.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

from pymongo.asynchronous.database import AsyncDatabase

from api.core.errors import ApiError
from api.data import annotations, images
from api.inference import InferenceError
from api.photos import Photo, check
from api.schemas import Crop


@dataclass(frozen=True)
class Submitted:
    """One photo of a request as received (bytes and crop box) or already refused (error), and its source."""

    source: dict[str, str]
    data: bytes | None = None
    crop: Crop | None = None
    error: ApiError | None = None


def inference_error(error: InferenceError) -> ApiError:
    if 400 <= error.status < 500:
        code = "too_large" if error.status == 413 else "invalid_image"
        return ApiError(error.status, f"the model refused the image: {error.message}", code)
    return ApiError(503, f"the model server failed ({error.status}: {error.message}); retry shortly", "inference_failed")


async def _check_all(submitted: Sequence[Submitted], max_bytes: int) -> list[Photo | ApiError]:
    checked: list[Photo | ApiError] = []
    for item in submitted:
        if item.data is None:
            checked.append(item.error or ApiError(400, "the image could not be read"))
            continue
        try:
            checked.append(await check(item.data, item.crop, max_bytes))
        except ApiError as error:
            checked.append(error)
    return checked


async def _check_and_store(db: AsyncDatabase, account_id: str, submitted: Sequence[Submitted],
                           max_bytes: int) -> tuple[list[Photo | ApiError], dict[int, dict]]:
    await asyncio.sleep(0)  # one turn of the loop, in which the model's requests go out
    checked = await _check_all(submitted, max_bytes)
    stored = {i: images.new_image(account_id, p.data, p.content_type, p.width, p.height)
              for i, p in enumerate(checked) if isinstance(p, Photo)}
    await images.insert_many(db, list(stored.values()))
    return checked, stored


async def annotate(db: AsyncDatabase, inference: Any, account_id: str, submitted: Sequence[Submitted],
                   max_bytes: int) -> list[tuple[dict, dict] | ApiError]:
    """Per submitted photo: the (annotation, image) documents as stored, or the ApiError that photo got."""
    direct = [i for i, item in enumerate(submitted) if item.data is not None and item.crop is None]
    # The model's request is started first, so that it is on its way before this process decodes the photos.
    asking = asyncio.ensure_future(inference.annotate([submitted[i].data for i in direct])) if direct else None
    checking = asyncio.ensure_future(_check_and_store(db, account_id, submitted, max_bytes))
    answers: dict[int, dict | InferenceError] = {}
    try:
        if asking is not None:
            answers.update(zip(direct, await asking))
        checked, stored = await checking
    except BaseException:
        if asking is not None and not asking.done():
            asking.cancel()
        # Not cancelled: an insert already sent could still land; let it finish, then remove what it stored.
        await asyncio.wait([checking])
        if not checking.cancelled() and checking.exception() is None:
            await images.delete(db, account_id, [image["_id"] for image in checking.result()[1].values()])
        raise
    cropped = [i for i in stored if i not in answers]
    if cropped:
        answers.update(zip(cropped, await inference.annotate([checked[i].model_input for i in cropped])))

    outcome: list[tuple[dict, dict] | ApiError] = []
    for i, item in enumerate(submitted):
        answer = answers.get(i)
        if isinstance(checked[i], ApiError):
            outcome.append(checked[i])
        elif isinstance(answer, InferenceError):
            outcome.append(inference_error(answer))
        else:
            crop = item.crop.model_dump() if item.crop else None
            outcome.append((annotations.new_annotation(account_id, stored[i], item.source, crop, answer), stored[i]))
    await _keep(db, account_id, outcome, stored)
    return outcome


async def _keep(db: AsyncDatabase, account_id: str, outcome: list, stored: dict[int, dict]) -> None:
    """Insert the annotations; drop the images of photos that failed (or of all, if the insert fails)."""
    failed = [stored[i]["_id"] for i, result in enumerate(outcome) if isinstance(result, ApiError) and i in stored]
    await images.delete(db, account_id, failed)
    try:
        await annotations.insert_many(db, [r[0] for r in outcome if not isinstance(r, ApiError)])
    except Exception:
        # Nothing half-stored: an image without its annotation would be invisible and never cleaned up.
        await images.delete(db, account_id, [image["_id"] for image in stored.values()])
        raise
