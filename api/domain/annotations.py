"""Annotating photos for a shop: checked, sent to the model as one batch, stored with their images.

Photos without a crop box go to the model as they came while this process checks their headers
(api/intake/photo.py): the handlers decode with the same guarded decoder (handlers/images.py), so the model sees
nothing our check would have kept from it, a photo either refuses is refused, and the check hides behind the
model's latency instead of adding to it. A crop has to be cut out first, so those photos are checked (decoded)
before they are sent.

Each photo succeeds or fails alone. An accepted photo's file is written while the model works (api/data/images.py);
once the model has answered, each annotation and its image's document are written together in one round trip,
before the answer goes out. A failed photo keeps nothing, and if the write fails, whatever of it landed is
removed again, files included.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient, InferenceError
from api.data import annotations, images
from api.domain.errors import DomainError, PhotoRejected, model_refusal
from api.domain.shop_models import LoadedModel
from api.intake.photo import Photo, check
from api.schemas import Crop

T = TypeVar("T")


@dataclass(frozen=True)
class Submitted:
    """One photo of a request as received (bytes and crop box) or already refused (error), its source, and the
    product's name when the caller knows it (the shop's own model reads it beside the photo)."""

    source: dict[str, str]
    data: bytes | None = None
    crop: Crop | None = None
    error: DomainError | None = None
    title: str | None = None


async def _check_all(submitted: Sequence[Submitted], max_bytes: int) -> list[Photo | DomainError]:
    checked: list[Photo | DomainError] = []
    for item in submitted:
        if item.data is None:
            checked.append(item.error or PhotoRejected("the image could not be read", "not_an_image"))
            continue
        try:
            checked.append(await check(item.data, item.crop, max_bytes))
        except DomainError as error:
            checked.append(error)
    return checked


async def annotate(db: AsyncDatabase, files: images.ImageStore, inference: InferenceClient, account_id: str,
                   submitted: Sequence[Submitted], max_bytes: int, render: Callable[[dict, dict], T],
                   policy: Callable[[dict], dict] | None = None, shop_model: LoadedModel | None = None
                   ) -> list[T | DomainError]:
    """Per submitted photo: `render` of its stored annotation document and the model's answer it was made from
    (which also carries what the API never answers: the photo's embedding and signals), or the DomainError that
    photo got.
    `policy`: what a tagging policy does with the model's answer (and the shop's own terms), stored with the
    annotation (the review queue). `shop_model`: the shop's own model, whose terms join each answer (`shop`).

    `render` (what the caller answers with) runs while the write is in flight, but nothing is returned before
    the write has succeeded: a failed write raises (having removed what it wrote).
    """
    direct = [i for i, item in enumerate(submitted) if item.data is not None and item.crop is None]
    # The model's request is started first, so that it is on its way before this process decodes the photos.
    asking = asyncio.ensure_future(inference.annotate([submitted[i].data for i in direct])) if direct else None
    answers: dict[int, dict | InferenceError] = {}
    filed: dict[int, images.NewImage] = {}
    filing: asyncio.Future | None = None
    try:
        await asyncio.sleep(0)  # one turn of the loop, in which the model's requests go out
        checked = await _check_all(submitted, max_bytes)
        # The accepted photos' files are written while the model works; the ones it then refuses are removed.
        filed = {i: images.new_image(account_id, photo.data, photo.content_type, photo.width, photo.height)
                 for i, photo in enumerate(checked) if isinstance(photo, Photo)}
        filing = asyncio.ensure_future(files.write(list(filed.values())))
        if asking is not None:
            answers.update(zip(direct, await asking))
        cropped = [i for i in filed if i not in answers]
        if cropped:
            answers.update(zip(cropped, await inference.annotate([checked[i].model_input for i in cropped])))
        await asyncio.shield(filing)  # a cancelled request must not cancel it: its thread would write on, unseen
    except BaseException:
        if asking is not None and not asking.done():
            asking.cancel()
        if filing is not None:
            await asyncio.wait([filing])  # its thread cannot be stopped: let it finish, then undo it
            if not filing.cancelled() and filing.exception() is None:
                await files.remove([image.document for image in filed.values()])
        raise

    outcome: list[tuple[dict, dict, dict] | DomainError] = []
    refused: list[dict] = []
    for i, item in enumerate(submitted):
        photo, answer = checked[i], answers.get(i)
        if isinstance(photo, DomainError):
            outcome.append(photo)
        elif isinstance(answer, InferenceError):
            outcome.append(model_refusal(answer.status, answer.message))
            refused.append(filed[i].document)
        else:
            crop = item.crop.model_dump() if item.crop else None
            image = filed[i].document
            if shop_model is not None:  # the shop's terms, from the embedding and signals that came with the answer
                answer = {**answer, "shop": shop_model.answer(answer.get("embedding"), answer.get("signals"),
                                                              answer["model"].get("digest"), item.title)}
            decided = policy(answer) if policy is not None else None
            source = {**item.source, "title": item.title} if item.title else item.source  # what the caller named it
            document = annotations.new_annotation(account_id, image, source, crop, answer, decided)
            outcome.append((document, image, answer))
    stored = [result[:2] for result in outcome if not isinstance(result, DomainError)]
    writing = asyncio.ensure_future(annotations.insert_with_images(db, stored))
    try:
        await asyncio.sleep(0)  # one turn of the loop, in which the write goes out
        rendered = [result if isinstance(result, DomainError) else render(result[0], result[2]) for result in outcome]
    finally:
        await asyncio.wait([writing])  # the write is never left running unwatched
        failed = writing.cancelled() or writing.exception() is not None
        await files.remove(refused + ([image for _, image in stored] if failed else []))
    writing.result()
    return rendered
