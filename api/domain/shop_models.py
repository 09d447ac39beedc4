"""A shop's own model in the service: learned from its catalogue as a job, stored versioned, answering annotations.

The shop's products that carry its own categories or tags (their first category, all their tags) are the examples;
each photo's stored embedding is its feature row (kalas/shop_model.py learns from those alone, so a training
needs no model server). A training is a `shop_model` job on the durable queue (api/jobs/shop_model.py): queued
by the shop (the console's retrain button) or when enough of its catalogue changed since the last training
(`retrain_if_due`, after every product write). Each training is stored as a new version with its held-out figures
(api/data/shop_models.py).

An annotation of a shop with a model also answers the shop's own terms: its categories, best first, and the tags
scored at least TAG_SHOWN, with calibrated scores. They come from the same model answer as the generic taxonomy
(`fashion-attributes` answers the photo's embedding too), so a shop's terms cost no second model call.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from cachetools import LRUCache
import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from api.data import jobs, shop_models
from kalas.shop_model import MIN_EXAMPLES, Examples, NotEnoughExamples, ShopModel, train

# Retrained when at least this many products changed since the last training, or this share of the catalogue.
RETRAIN_CHANGES = 20
RETRAIN_SHARE = 0.1
TOP_CATEGORIES = 3
TAG_SHOWN = 0.5  # a tag scored at least this is answered (the same line its held-out micro-F1 is scored at)
MODEL_CHECK_S = 5.0  # a process looks for a newer version of a shop's model at most this often
MAX_LOADED_SHOPS = 256


def examples_of(documents: list[dict], embedder: str | None) -> Examples:
    """One row per photo of each product whose vectors `embedder` made (vectors of two embedders do not compare);
    the product's id is every row's, so a product's photos are held out together."""
    ids, rows, categories, tags = [], [], [], []
    for product in documents:
        if product.get("embedder") != embedder:
            continue
        for vector in product["embeddings"]:
            ids.append(product["_id"])
            rows.append(vector)
            categories.append(product["categories"][0] if product.get("categories") else None)
            tags.append(list(product.get("tags") or []))
    features = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1) if rows else np.zeros((0, 0), np.float32)
    return Examples(ids, features, categories, tags)


def _main_embedder(documents: list[dict]) -> str | None:
    counts: dict[str | None, int] = {}
    for product in documents:
        counts[product.get("embedder")] = counts.get(product.get("embedder"), 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def needs(report: dict) -> dict:
    """Per term with fewer than MIN_EXAMPLES products: how many more it needs before the model learns it."""
    terms = report["terms"]
    return {kind: {name: terms["min_examples"] - n for name, n in sorted(terms[kind].items()) if n < terms["min_examples"]}
            for kind in ("categories", "tags")}


async def train_shop(db: AsyncDatabase, account_id: str) -> dict:
    """Train the shop's model on its catalogue and store it as a new version (returned, without its arrays).
    NotEnoughExamples when no term has MIN_EXAMPLES products: the shop keeps the generic taxonomy alone."""
    documents = await shop_models.examples(db, account_id)
    embedder = _main_embedder(documents)
    examples = examples_of(documents, embedder)
    if not examples.ids:
        raise NotEnoughExamples("no product of this shop carries a category or tag of its own yet: give products "
                                "their `categories` and `tags` (or connect a store, whose catalogue is imported)")
    started = time.time()
    model, report = await asyncio.to_thread(train, examples)
    report["needs"] = needs(report)
    arrays = model.to_arrays()
    values = {"embedder": embedder, "categories": arrays.pop("categories"), "tags": arrays.pop("tags"),
              "category_temperature": arrays.pop("category_temperature"),
              "tag_temperature": arrays.pop("tag_temperature"), "settings": arrays.pop("settings"),
              "examples_since": started}
    document = await shop_models.insert_version(db, account_id, values, arrays, report)
    document.pop("arrays")
    return document


async def term_counts_of(db: AsyncDatabase, account_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """(products per category, products per tag) of the shop's catalogue as it is now (a product's first
    category is the one its model learns)."""
    categories: dict[str, int] = {}
    tags: dict[str, int] = {}
    for product in await shop_models.term_lists(db, account_id):
        for name in (product.get("categories") or [])[:1]:
            categories[name] = categories.get(name, 0) + 1
        for name in set(product.get("tags") or []):
            tags[name] = tags.get(name, 0) + 1
    return categories, tags


async def queue_training(db: AsyncDatabase, account_id: str, reason: str) -> dict:
    job, _ = await jobs.enqueue_kind(db, "shop_model", account_id, f"shop_model:{account_id}", reason)
    return job


async def retrain_if_due(db: AsyncDatabase, account_id: str) -> bool:
    """Queue a training when a term has MIN_EXAMPLES products that the shop's model does not know yet (the first
    model too), or when enough of its catalogue changed since the model's training; True when one was queued or
    was already waiting."""
    latest = await shop_models.latest(db, account_id)
    categories, tags = await term_counts_of(db, account_id)
    learnable = {name for counts in (categories, tags) for name, n in counts.items() if n >= MIN_EXAMPLES}
    if latest is None:
        if not learnable:
            return False
        await queue_training(db, account_id, f"a term has {MIN_EXAMPLES} products: the shop's first model")
        return True
    new_terms = learnable - set(latest["categories"]) - set(latest["tags"])
    if new_terms:
        await queue_training(db, account_id, f"{len(new_terms)} term(s) now have {MIN_EXAMPLES} products: "
                                             f"{', '.join(sorted(new_terms)[:5])}")
        return True
    changed = await shop_models.changed_since(db, account_id, latest["created"])
    if changed < max(RETRAIN_CHANGES, RETRAIN_SHARE * latest["report"]["products"]):
        return False
    await queue_training(db, account_id, f"{changed} products changed since version {latest['version']}")
    return True


@dataclass(frozen=True)
class LoadedModel:
    version: int
    embedder: str | None
    model: ShopModel

    def answer(self, embedding: list[float] | None, embedder: str | None) -> dict | None:
        """The shop's terms for a photo's embedding; None when the embedding is another embedder's (the model
        is retrained on the shop's re-embedded catalogue) or missing."""
        if embedding is None or embedder != self.embedder:
            return None
        [prediction] = self.model.predict(np.asarray(embedding, dtype=np.float32)[None, :])
        return {"version": self.version,
                "categories": [{"name": n, "score": round(s, 6)} for n, s in prediction.categories[:TOP_CATEGORIES]],
                "tags": [{"name": n, "score": round(s, 6)} for n, s in prediction.tags if s >= TAG_SHOWN]}


class ShopModels:
    """Each shop's newest model, loaded once per version and kept in this process."""

    def __init__(self, max_shops: int = MAX_LOADED_SHOPS) -> None:
        # shop -> (checked at, model); the least recently used dropped beyond `max_shops`: a model holds its arrays
        self._loaded: LRUCache[str, tuple[float, LoadedModel | None]] = LRUCache(maxsize=max_shops)

    def forget(self, account_id: str) -> None:
        self._loaded.pop(account_id, None)

    async def current(self, db: AsyncDatabase, account_id: str) -> LoadedModel | None:
        checked, loaded = self._loaded.get(account_id, (0.0, None))
        if time.monotonic() - checked < MODEL_CHECK_S:
            return loaded
        version = await shop_models.latest_version(db, account_id)
        if version is not None and (loaded is None or loaded.version != version):
            document = await shop_models.latest(db, account_id, with_arrays=True)
            loaded = None if document is None else await asyncio.to_thread(_load, document)
        elif version is None:
            loaded = None
        self._loaded[account_id] = (time.monotonic(), loaded)
        return loaded


def _load(document: dict) -> LoadedModel:
    values = {name: document[name] for name in ("categories", "tags", "category_temperature", "tag_temperature",
                                                 "settings")}
    model = ShopModel.from_arrays({**values, **shop_models.unpack(document["arrays"])})
    return LoadedModel(document["version"], document.get("embedder"), model)
