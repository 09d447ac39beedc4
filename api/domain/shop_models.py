"""A shop's own model in the service: learned from its catalogue as a job, stored versioned, answering annotations.

The shop's products that carry its own categories or tags (their first category, all their tags) are the examples;
each photo's feature row is its joint vector, its stored embedding beside its stored signals (handlers/signals.py),
or the bare embedding when some of those products were stored before signals were (`features` says which; the
joint vector is measured better in docs/benchmarks.md, "Shop models"). A person's review of a store product's
annotation may give the shop's own terms (`reviewed_terms`, `teach_from_review`): its catalogue product takes them,
category first, and the model retrains on them. A product's `title` (a store product's name) is the model's second
input (kalas/shop_heads.py, `TitleHead`): an annotation made with the product's name reads it beside the photo. A
training reads the database alone: no model server. A training is a `shop_model` job on the durable queue
(api/jobs/shop_model.py): queued by the shop (the console's retrain button) or when enough of its catalogue changed
since the last training (`retrain_if_due`, after every product write). Each training is stored as a new version
with its held-out figures (api/data/shop_models.py).

An annotation of a shop with a model also answers the shop's own terms: its categories, best first, and the tags
scored at least TAG_SHOWN, with calibrated scores. They come from the same model answer as the generic taxonomy
(`fashion-attributes` answers the photo's embedding and signals too), so a shop's terms cost no second model call.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from cachetools import LRUCache
import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from api.data import integrations, jobs, products, shop_models
from api.domain.errors import NotAStoreProduct, UnknownShopTerm
from api.integrations.store_data import PATH_SEPARATOR, is_unnamed
from handlers.signals import joint
from kalas.shop_model import MIN_EXAMPLES, Examples, NotEnoughExamples, ShopModel, train

# Retrained when at least this many products changed since the last training, or this share of the catalogue.
RETRAIN_CHANGES = 20
RETRAIN_SHARE = 0.1
TOP_CATEGORIES = 3
TAG_SHOWN = 0.5  # a tag scored at least this is answered (the same line its held-out micro-F1 is scored at)
MODEL_CHECK_S = 5.0  # a process looks for a newer version of a shop's model at most this often
MAX_LOADED_SHOPS = 256
JOINT, EMBEDDING = "joint", "embedding"  # what a model reads: the joint vector, or the bare embedding


def features_of(embeddings: list, signals: list, kind: str) -> np.ndarray:
    """[N, D] feature rows of `kind` for N photos' embeddings and (read only for JOINT) signals."""
    rows = np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
    return rows if kind == EMBEDDING else joint(rows, np.asarray(signals, dtype=np.float32).reshape(len(rows), -1))


def examples_of(documents: list[dict], embedder: str | None) -> tuple[Examples, str]:
    """One row per photo of each product whose vectors `embedder` made (vectors of two embedders do not compare);
    the product's id is every row's, so a product's photos are held out together. The rows are joint vectors when
    every such product has its photos' signals, else bare embeddings (JOINT or EMBEDDING, returned beside)."""
    chosen = [product for product in documents if product.get("embedder") == embedder]
    kind = JOINT if chosen and all(product.get("signals") for product in chosen) else EMBEDDING
    ids, embeddings, signals, categories, tags, titles = [], [], [], [], [], []
    for product in chosen:
        embeddings += product["embeddings"]
        signals += product["signals"] if kind == JOINT else []
        for _ in product["embeddings"]:
            ids.append(product["_id"])
            categories.append(product["categories"][0] if product.get("categories") else None)
            tags.append(list(product.get("tags") or []))
            titles.append(None if is_unnamed(product) else product.get("title"))
    features = features_of(embeddings, signals, kind) if ids else np.zeros((0, 0), np.float32)
    return Examples(ids, features, categories, tags, titles if any(titles) else None), kind


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
    examples, features = examples_of(documents, embedder)
    if not examples.ids:
        raise NotEnoughExamples("no product of this shop carries a category or tag of its own yet: give products "
                                "their `categories` and `tags` (or connect a store, whose catalogue is imported)")
    started = time.time()
    model, report = await asyncio.to_thread(train, examples)
    report["needs"] = needs(report)
    arrays = model.to_arrays()
    values = {"embedder": embedder, "features": features, "dim": int(examples.features.shape[1]),
              **{name: arrays.pop(name) for name in ShopModel.VALUES}, "examples_since": started}
    return await shop_models.insert_version(db, account_id, values, arrays, report)


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


async def reviewed_terms(db: AsyncDatabase, account_id: str, annotation: dict, terms: dict) -> dict:
    """A review's shop terms ({"category", "tags"}) spelt as the shop's products spell them; UnknownShopTerm for a
    name none of its products carries (a review teaches the store's existing terms, it never makes one), and
    NotAStoreProduct when the annotation is not a store product's (nothing would learn from them)."""
    categories, tags = await shop_models.term_names(db, account_id)
    known = {kind: {name.casefold(): name for name in names if isinstance(name, str)}
             for kind, names in (("category", categories), ("tag", tags))}

    def spelt(kind: str, name: str) -> str:
        found = known[kind].get(name.casefold())
        if found is None:
            raise UnknownShopTerm(kind, name, sorted(known[kind].values()))
        return found

    category = terms.get("category")
    spelt_terms = {"category": spelt("category", category) if category else None,
                   "tags": list(dict.fromkeys(spelt("tag", tag) for tag in terms.get("tags") or []))}
    if (annotation.get("source") or {}).get("kind") != "woocommerce":  # checked second: an unknown term says so first
        raise NotAStoreProduct()
    return spelt_terms


async def teach_from_review(db: AsyncDatabase, account_id: str, annotation: dict, terms: dict) -> dict | None:
    """The reviewed store product's catalogue entry takes the review's terms (`reviewed_terms`): its category first
    (the one the model learns), the merchant's others after it; the tags added to its own. A training is queued.
    The entry after the change; None when the store product has no catalogue entry (nothing to learn from), or when
    its photos changed since the annotation was made: the entry shows the new photos, which the reviewer did not
    see (the review itself is kept for training, paired with the photo it was made for)."""
    source = annotation["source"]
    product_id = int(source["product_id"])
    written = await integrations.our_write(db, source["integration"], product_id)
    if None not in (source.get("images"), (written or {}).get("images")) and written["images"] != source["images"]:
        return None
    entry = await integrations.catalogue_product(db, account_id, source["integration"], product_id)
    if entry is None:
        return None
    categories = entry.get("categories") or []
    if terms["category"]:
        categories = [terms["category"], *(c for c in categories if c != terms["category"])][:10]
    tags = list(dict.fromkeys([*(entry.get("tags") or []), *terms["tags"]]))[:30]
    updated = await products.update(db, account_id, entry["_id"], {"categories": categories, "tags": tags})
    await queue_training(db, account_id, f"a review of store product {source['product_id']} gave it the shop's terms")
    return updated


async def queue_training(db: AsyncDatabase, account_id: str, reason: str) -> dict:
    job, _ = await jobs.enqueue_kind(db, "shop_model", account_id, f"shop_model:{account_id}", reason)
    return job


async def retrain_if_taught(db: AsyncDatabase, account_id: str, *changed: dict | None) -> None:
    """Products made, changed or deleted: those with the shop's own terms teach its model, which is retrained when
    enough changed (`retrain_if_due`)."""
    if any(p and (p.get("categories") or p.get("tags")) for p in changed):
        await retrain_if_due(db, account_id)


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
    features: str = EMBEDDING  # JOINT or EMBEDDING: what the model reads (versions stored before signals: EMBEDDING)

    def answer(self, embedding: list[float] | None, signals: list[float] | None, embedder: str | None,
               title: str | None = None) -> dict | None:
        """The shop's terms for a photo's embedding and signals (as the model server answered them), read with the
        product's name (`title`) when there is one and the model learned its shop's names; None when the
        embedding is another embedder's (the model is retrained on the shop's re-embedded catalogue), or when
        what the model reads is missing or of another size."""
        if embedding is None or embedder != self.embedder or (self.features == JOINT and signals is None):
            return None
        features = features_of([embedding], [signals], self.features)
        if features.shape[1] != self.model.memory.shape[1]:
            return None
        [prediction] = self.model.predict(features, [title])
        return {"version": self.version, "named": prediction.named,
                "categories": [{"name": n, "score": round(s, 6)} for n, s in prediction.categories[:TOP_CATEGORIES]],
                "parents": parents(prediction.categories),
                "tags": [{"name": n, "score": round(s, 6)} for n, s in prediction.tags if s >= TAG_SHOWN]}


def parents(categories: list[tuple[str, float]]) -> list[dict]:
    """The best category's parents in the shop's tree (its name a path, "Herren > Hemden": a store's categories
    are named so), nearest first, each scored with the probability of every one of the shop's categories under it,
    itself included: what the tagging policy backs off to when the category itself is unsure."""
    if not categories:
        return []
    steps = categories[0][0].split(PATH_SEPARATOR)
    found = []
    for depth in range(len(steps) - 1, 0, -1):
        path = PATH_SEPARATOR.join(steps[:depth])
        score = sum(s for name, s in categories if name == path or name.startswith(path + PATH_SEPARATOR))
        found.append({"name": path, "score": round(min(score, 1.0), 6)})
    return found


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
    values = {name: document.get(name) for name in ShopModel.VALUES}  # versions stored before names: none
    model = ShopModel.from_arrays({**values, **shop_models.unpack(document["arrays"])})
    return LoadedModel(document["version"], document.get("embedder"), model, document.get("features", EMBEDDING))
