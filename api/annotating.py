"""Annotating photos for a shop: one inference call for the batch, then the image and its annotation stored.

Used by the annotation routes (uploads and URLs, single and batch). Each photo succeeds or fails alone; a
failed photo leaves nothing stored, and if storing fails the images already written are removed again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pymongo.asynchronous.database import AsyncDatabase

from api.core.errors import ApiError
from api.data import annotations, images
from api.inference import InferenceError
from api.photos import Photo


@dataclass(frozen=True)
class Submitted:
    """One photo of a request: checked (photo) or already refused (error), with where it came from."""

    source: dict[str, str]
    photo: Photo | None = None
    error: ApiError | None = None


def inference_error(error: InferenceError) -> ApiError:
    if 400 <= error.status < 500:
        return ApiError(error.status, f"the model refused the image: {error.message}", "invalid_image")
    return ApiError(503, f"the model server failed ({error.status}: {error.message}); retry shortly", "inference_failed")


async def annotate(db: AsyncDatabase, inference: Any, account_id: str,
                   submitted: Sequence[Submitted]) -> list[tuple[dict, dict] | ApiError]:
    """Per submitted photo: (annotation, image) documents as stored, or the ApiError that photo got."""
    ready = [item for item in submitted if item.photo is not None]
    answers = iter(await inference.annotate([item.photo.model_input for item in ready]) if ready else [])
    outcome: list[tuple[dict, dict] | ApiError] = []
    to_store: list[tuple[dict, dict]] = []
    for item in submitted:
        if item.photo is None:
            outcome.append(item.error or ApiError(400, "the image could not be read"))
            continue
        answer = next(answers)
        if isinstance(answer, InferenceError):
            outcome.append(inference_error(answer))
            continue
        photo = item.photo
        image = images.new_image(account_id, photo.data, photo.content_type, photo.width, photo.height)
        crop = photo.crop.model_dump() if photo.crop else None
        pair = (annotations.new_annotation(account_id, image, item.source, crop, answer), image)
        to_store.append(pair)
        outcome.append(pair)
    await _store(db, account_id, to_store)
    return outcome


async def _store(db: AsyncDatabase, account_id: str, pairs: list[tuple[dict, dict]]) -> None:
    stored_images = [image for _, image in pairs]
    await images.insert_many(db, stored_images)
    try:
        await annotations.insert_many(db, [annotation for annotation, _ in pairs])
    except Exception:
        # Nothing half-stored: an image without its annotation would be invisible and never cleaned up.
        await images.delete(db, account_id, [image["_id"] for image in stored_images])
        raise
