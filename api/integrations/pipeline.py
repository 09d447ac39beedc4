"""One job's work: annotate a WooCommerce product and write the result back to the store.

Read the product as it is now (never trust the webhook's copy: deliveries come late, twice, or out of order) →
skip it if its current photos are already annotated → fetch its main photo (SSRF-safe, size and time limits) →
annotate and embed it → add it to the shop's similar-item catalogue → find or create the category and tags →
PUT them merged with the merchant's own, with the marker that stops the `product.updated` loop.

`job_failure` turns a failure into a `JobFailure`, which says whether running the job again can help.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from api.fetch import FetchError, SafeHttp
from api.inference import InferenceError
from api.integrations.catalogue import CatalogueFailure, add_to_catalogue
from api.integrations.merge import (MARKER_KEY, Merge, is_annotated, marker, marker_value, merge_terms,
                                    prediction_from)
from api.integrations.woo_client import StoreError, WooClient

Step = Callable[..., Awaitable[None]]  # step(name, detail, fence=False)


class JobFailure(Exception):
    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.retryable, self.retry_after = message, retryable, retry_after


@dataclass
class Services:
    """What the worker opened once and every job shares."""

    db: Any
    inference: Any
    fetcher: SafeHttp
    catalogues: Any  # api.catalogue.Catalogues over this process's index store
    files: Any  # api.data.images.ImageFiles: where stored images' bytes go
    max_photo_bytes: int


KNOWN_FAILURES = (StoreError, FetchError, InferenceError, CatalogueFailure)


def job_failure(error: Exception) -> JobFailure:
    """What a known failure means for the job: its message, and whether trying again can help."""
    if isinstance(error, StoreError):
        return JobFailure(error.message, error.retryable, error.retry_after)
    if isinstance(error, FetchError):
        # 504: the image host was slow; 422 covers a host that did not answer; both may pass. 400/413 will not.
        return JobFailure(f"the product photo could not be fetched: {error.message}", error.status in (422, 504))
    if isinstance(error, InferenceError):
        return JobFailure(f"the models could not annotate the photo ({error.status}): {error.message}",
                          error.status >= 500 or error.status == 429)
    if isinstance(error, CatalogueFailure):
        return JobFailure(str(error), error.retryable)
    raise error


async def annotate_product(services: Services, job: dict, store: WooClient, step: Step) -> str:
    """The outcome, in words; raises one of KNOWN_FAILURES (see job_failure) when it cannot finish."""
    product = await store.get_product(job["product_id"])
    if product is None:
        return "the product no longer exists in the store"
    await step("product read", f"{product.get('name', '')!r}, {len(product.get('images', []))} photo(s)")
    if is_annotated(product):
        return "already annotated for its current photos"
    if not product.get("images"):
        return "the product has no photo yet (it is annotated when one is added)"

    source = product["images"][0]["src"]
    photo = (await services.fetcher.get(source, max_bytes=services.max_photo_bytes)).body
    await step("photo fetched", f"{len(photo)} bytes from {source}")
    # Annotating and indexing need only the photo: run them side by side (the model server batches them).
    [annotation], catalogue_id = await asyncio.gather(
        services.inference.annotate([photo]), add_to_catalogue(services, job, product, photo, services.max_photo_bytes))
    if isinstance(annotation, InferenceError):
        raise annotation
    prediction = prediction_from(annotation)
    await step("annotated", f"category {prediction.category}; tags {', '.join(prediction.tags) or 'none'}")
    # The last check that the job is still ours before writing to the store.
    await step("indexed", f"catalogue product {catalogue_id} in the shop's similar-item search", fence=True)

    previous = marker(product) or {}
    categories = merge_terms(product.get("categories", []), [prediction.category] if prediction.category else [],
                             previous.get("added_categories", []), drop_placeholder=True)
    tags = merge_terms(product.get("tags", []), list(prediction.tags), previous.get("added_tags", []))
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta = [{"key": MARKER_KEY, "value": marker_value(product, prediction, categories, tags, at)}]
    try:
        changes = await _changes(store, categories, tags, meta)
        await store.update_product(product["id"], changes)
    except StoreError as error:
        if error.status != 400:
            raise
        store.forget_terms()  # a remembered term was deleted in the store meanwhile: look every name up again
        changes = await _changes(store, categories, tags, meta)
        await store.update_product(product["id"], changes)
    await step("written back", f"{len(changes['categories'])} categories, {len(changes['tags'])} tags")
    return f"category {prediction.category}; added tags: {', '.join(tags.add_names) or 'none'}"


async def _changes(store: WooClient, categories: Merge, tags: Merge, meta: list[dict]) -> dict:
    return {"categories": await _term_refs(store, "categories", categories),
            "tags": await _term_refs(store, "tags", tags), "meta_data": meta}


async def _term_refs(store: WooClient, kind: str, merge: Merge) -> list[dict]:
    # WooCommerce assigns terms by id only, so every name is found or created first.
    ids = list(merge.keep_ids) + [await store.term_id(kind, name) for name in merge.add_names]
    return [{"id": term_id} for term_id in dict.fromkeys(ids)]
