"""A photo's vectors as the catalogue stores them: its embedding and signals, from the embedder, or from the
annotation's answer when the attributes model is the embedder's network, with the identity (digest) of the network
that made them: vectors only compare with vectors of the same digest (api/domain/reembedder.py)."""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np

from api.clients.inference import Embedded, InferenceClient, InferenceError, embedded_of
from api.domain.errors import model_refusal
from api.intake.photo import Photo, check
from api.schemas import Crop


def digest(embedder: dict | None) -> str | None:
    """An embedder identity's digest (handlers/archive.py): vectors compare only with vectors of the same one."""
    return (embedder or {}).get("digest")


Made = tuple[list[Embedded], dict | None]  # the photos' embeddings and the identity of the embedder that made them


def made_by_annotation(answer: dict, inference: InferenceClient) -> Made | None:
    """The embedding an annotation's answer carries (the attributes model answers it beside its heads), when that
    model has the serving embedder's weights (the same digest): a store product's photo then goes through the
    network once, for its annotation and its catalogue entry alike. None when the embedder is another network,
    or not known yet in this process (its first answer tells it)."""
    model = answer.get("model")
    if "embedding" not in answer or digest(model) is None or digest(model) != digest(inference.embedder):
        return None
    return [embedded_of(answer)], inference.embedder


async def embed(inference: InferenceClient, photos: Sequence[Photo], made: Made | None = None) -> Made:
    """One embedding (and its signals) per photo and the identity of the embedder that made them; the first
    refused photo fails the whole call (a product is stored whole or not). `made`: already made (by the annotating
    model, `made_by_annotation`), then no model is asked."""
    if made is not None:
        return made
    answers = await inference.embed([photo.model_input for photo in photos])
    for position, answer in enumerate(answers):
        if isinstance(answer, InferenceError):
            raise model_refusal(answer.status, answer.message).about(f"image {position + 1}")
    return answers, inference.embedder


def vectors_of(answers: Sequence[Embedded], embedder: dict | None) -> dict[str, Any]:
    """A product's stored vectors: per photo its embedding and its signals (None when the embedder answers none,
    so that no other embedder's signals stay beside new embeddings), and the embedder's digest."""
    signals = [answer.signals for answer in answers]
    return {"embeddings": [answer.vector.tolist() for answer in answers],
            "signals": None if any(s is None for s in signals) else [s.tolist() for s in signals],
            "embedder": digest(embedder)}


async def embed_checked(inference: InferenceClient, data: bytes, crop: Crop | None, max_bytes: int) -> tuple[np.ndarray, dict | None]:
    """The embedding of one photo that is checked meanwhile (see api/domain/annotations.py for why that is safe), and
    the identity of the embedder that made it."""
    if crop is not None:
        photo = await check(data, crop, max_bytes)
        answers, embedder = await embed(inference, [photo])
        return answers[0].vector, embedder
    async def ask() -> tuple[Embedded | InferenceError, dict | None]:
        answer = (await inference.embed([data]))[0]
        return answer, inference.embedder  # read at once: other requests' answers may change it later

    # The model's request is started first, so that it is on its way before this process decodes the photo.
    asking = asyncio.ensure_future(ask())
    try:
        await asyncio.sleep(0)
        await check(data, None, max_bytes)  # a refused photo is refused with our decoder's message
    finally:
        await asyncio.wait([asking])
    answer, embedder = asking.result()
    if isinstance(answer, InferenceError):
        raise model_refusal(answer.status, answer.message)
    return answer.vector, embedder
