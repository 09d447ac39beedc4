"""Catalogue products: title, shop SKU, images and one embedding per image (what the shop's vector index holds).

The embeddings are stored with the product so an index can be rebuilt from the database without the models
(api/domain/catalogue.py does that when an index and the database disagree), together with the digest of the embedder
that made them (`embedder`; absent on products stored before 2026-11-25), so that vectors of a replaced embedder
can be found and made again (api/domain/reembedder.py). Beside them, per image, the signals the embedder answered
(`signals`, handlers/signals.py), which the shop's own model reads (api/domain/shop_models.py): None from an embedder
without them, absent on products stored before 2026-12-06. Neither is ever answered by the API.
"""
from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import count, insert_once, now, once, page, stamped, unique_index
from api.domain.errors import SkuTaken, StoreEntryTaken
from handlers.text_encoder import words

_NO_VECTORS = {"embeddings": 0, "signals": 0, "embedder": 0}
# The fields whose words a text search matches (api/domain/text_search.py), kept case-folded in `words`.
WORDED_FIELDS = ("title", "tags", "categories")


def store_key(integration_id: str, product_id: int | str) -> str:
    """A catalogue entry's top-level key for the store product it was made from (`catalogue_product` in
    api/data/integrations.py looks it up)."""
    return f"{integration_id}:{int(product_id)}"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.products.create_index([("account", ASCENDING), ("created", DESCENDING)])
    # nx-27017 reads the whole collection, vectors and all, for a query on a field no single-field index names; with
    # this one a shop's product list is answered from the index above (310 → 5.3 ms at 20,000 products over 5 shops;
    # scripts/bench_lists.py). Lookups by a more selective field therefore leave the account out of the query and
    # check it here (`_by_ids`; api/data/integrations.py `catalogue_product`): nx-27017's SQLite, without statistics,
    # would read the shop's products through this index instead.
    await db.products.create_index([("account", ASCENDING)])
    # Partial: SKUs are optional, and any number of products may have none.
    await db.products.create_index([("account", ASCENDING), ("sku", ASCENDING)], unique=True,
                                   partialFilterExpression={"sku": {"$type": "string"}})
    # A store product's catalogue entry (api/jobs/woocommerce.py): found again when its photos change, by a top-level
    # key (api/data/integrations.py `catalogue_product` says why); entries stored before it was kept get theirs once.
    await once(db, "products.store_key", lambda: _backfill_store_keys(db))
    await unique_store_keys(db)
    await db.products.create_index([("account", ASCENDING), ("words", ASCENDING)])
    # Products stored before text search have no `words` yet: given theirs once.
    await once(db, "products.words", lambda: _backfill_words(db))


async def unique_store_keys(db: AsyncDatabase) -> bool:
    """True when the store keys' index is unique: one catalogue entry per store product, however many worker
    processes make them (api/integrations/catalogue_import.py `store_entry`). A database from before it was unique
    has a plain one, made unique here; while entries made twice are stored (two workers racing, before this) the
    plain one stays, and the housekeeping job merges them and comes back here (False). A single-field index:
    nx-27017 reads every product for a query an (account, store_key) index would answer (7.3 ms against 0.49 at
    2,000 products with their vectors; measured), and the key names its store already. Partial: a product of the
    shop's own (made through the API) has no store key, and any number have none."""
    return await unique_index(db.products, [("store_key", ASCENDING)], "a store product's catalogue entry",
                              partialFilterExpression={"store_key": {"$type": "string"}})


async def store_duplicates(db: AsyncDatabase) -> list[tuple[str, str]]:
    """(shop, product id) of every catalogue entry of a store product that has a newer one (the newest is kept:
    the last whose photos were set). Reads every store entry, without vectors."""
    entries: dict[str, list[dict]] = {}
    async for entry in db.products.find({"store_key": {"$type": "string"}},
                                        {"account": 1, "store_key": 1, "updated": 1}):
        entries.setdefault(entry["store_key"], []).append(entry)
    return [(entry["account"], entry["_id"]) for made in entries.values()
            for entry in sorted(made, key=lambda e: (e["updated"], e["_id"]))[:-1]]


async def _backfill_store_keys(db: AsyncDatabase) -> None:
    async for product in db.products.find({"store_key": {"$exists": False}, "$or": [
            {"source.integration": {"$exists": True}}, {"metadata.source": "woocommerce"}]}, {"source": 1, "metadata": 1}):
        source = product.get("source") or {"integration": product["metadata"].get("integration"),
                                           "product_id": int(product["metadata"].get("store_product_id", -1))}
        await db.products.update_one({"_id": product["_id"]}, {"$set": {
            "source": source, "store_key": store_key(source["integration"], source["product_id"])}})


async def _backfill_words(db: AsyncDatabase) -> None:
    async for product in db.products.find({"words": {"$exists": False}}, {field: 1 for field in WORDED_FIELDS}):
        await db.products.update_one({"_id": product["_id"]}, {"$set": {"words": own_words(product)}})


def own_words(product: dict[str, Any]) -> list[str]:
    """The distinct case-folded words of a product's title, tags and categories (what text search matches)."""
    texts: list[str] = []
    for field in WORDED_FIELDS:
        value = product.get(field)
        texts += [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    return sorted({w for text in texts for w in words(text)})


async def with_words(db: AsyncDatabase, account_id: str, asked: list[str], limit: int) -> list[dict]:
    """At most `limit` of the shop's products whose own words include any of `asked` (MongoDB answers this from
    the (account, words) index; nx-27017 scans the shop's products, so text search asks it only for words its
    encoder does not know: api/domain/text_search.py)."""
    return await db.products.find({"account": account_id, "words": {"$in": asked}}, _NO_VECTORS).to_list(limit)


async def signals_by_image(db: AsyncDatabase, account_id: str, product_ids: list[str]) -> dict[str, dict[str, list]]:
    """Per product of these ids that exists: {image id: its stored signals}, empty when it has none."""
    answer = {}
    async for doc in _by_ids(db, account_id, product_ids, {"account": 1, "images": 1, "signals": 1}):
        stored = doc.get("signals") or []
        keys = image_ids(doc)
        answer[doc["_id"]] = dict(zip(keys, stored)) if len(stored) == len(keys) else {}
    return answer


def image_metas(stored_images: list[dict]) -> list[dict]:
    """What a product keeps of its images (id and size), so listing products never loads image bytes."""
    return [{"id": i["_id"], "width": i["width"], "height": i["height"]} for i in stored_images]


def image_ids(product: dict) -> list[str]:
    return [image["id"] for image in product["images"]]


def new_product(account_id: str, fields: dict[str, Any], stored_images: list[dict], vectors: dict[str, Any]) -> dict:
    """`vectors`: the photos' `embeddings`, `signals` and their `embedder` (api/domain/embedding.py `vectors_of`)."""
    moment = now()
    return {"_id": new_id(), "account": account_id, **fields, "words": own_words(fields),
            "images": image_metas(stored_images), **vectors, "created": moment, "updated": moment}


async def insert(db: AsyncDatabase, product: dict) -> None:
    """Stored; SkuTaken when the shop has a product with its SKU already, StoreEntryTaken when its store product
    has a catalogue entry already (a store entry has no SKU: its store key is what is unique)."""
    try:
        await insert_once(db.products, product)
    except DuplicateKeyError:
        if product.get("store_key") is not None and not product.get("sku"):
            raise StoreEntryTaken(product["store_key"]) from None
        raise SkuTaken(product.get("sku")) from None


async def get(db: AsyncDatabase, account_id: str, product_id: str) -> dict | None:
    return await db.products.find_one({"_id": product_id, "account": account_id}, _NO_VECTORS)


async def get_many(db: AsyncDatabase, account_id: str, product_ids: list[str]) -> dict[str, dict]:
    """The shop's products of these ids that exist."""
    return {product["_id"]: product async for product in _by_ids(db, account_id, product_ids, _NO_VECTORS)}


async def _by_ids(db: AsyncDatabase, account_id: str, product_ids: list[str], projection: dict):
    """The shop's products of these ids. Asked by `_id` alone and the shop checked here: nx-27017 answers an `_id`
    `$in` from its primary key, but with the account beside it scans the collection (40 ids among 30,000 products:
    4 ms against 23 ms; at 100,000 products that scan, refreshing remembered products, doubled text search's p50),
    and since `account` has an index of its own it would read the shop's products through that one instead."""
    async for product in db.products.find({"_id": {"$in": product_ids}}, projection):
        if product.get("account") == account_id:
            yield product


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.products, {"account": account_id}, offset, limit, _NO_VECTORS)


async def ids(db: AsyncDatabase, account_id: str) -> list[str]:
    return [p["_id"] async for p in db.products.find({"account": account_id}, {"_id": 1})]


async def update(db: AsyncDatabase, account_id: str, product_id: str, changes: dict[str, Any]) -> dict | None:
    """The product after the change; None if this shop has no such product. DuplicateKeyError for a taken SKU."""
    result = await db.products.update_one({"_id": product_id, "account": account_id}, stamped(changes, "updated"))
    if not result.matched_count:
        return None
    product = await get(db, account_id, product_id)
    if product is not None and any(field in changes for field in WORDED_FIELDS):
        await db.products.update_one({"_id": product_id, "account": account_id}, {"$set": {"words": own_words(product)}})
    return product


async def delete(db: AsyncDatabase, account_id: str, product_id: str) -> dict | None:
    return await db.products.find_one_and_delete({"_id": product_id, "account": account_id}, projection=_NO_VECTORS)


async def vector_dim(db: AsyncDatabase, account_id: str) -> int | None:
    """The length of the vectors of one of the shop's products (all have one, but for the moments of a re-embedding
    to another model); None for a shop without any. Not the newest by a sort: nx-27017 sorts by reading every
    product of the shop (28.7 ms at 2,000 products, against 0.8 ms for any one; measured)."""
    product = await db.products.find_one({"account": account_id}, {"embeddings": 1})
    return len(product["embeddings"][0]) if product and product.get("embeddings") else None


async def vectors(db: AsyncDatabase, account_id: str, product_ids: list[str] | None = None) -> list[dict]:
    """Every product of a shop (or these of its products that exist) with its image ids and embeddings: what
    building or catching up its index needs."""
    if product_ids is None:
        return await db.products.find({"account": account_id}, {"images": 1, "embeddings": 1}).to_list(length=None)
    found = _by_ids(db, account_id, product_ids, {"account": 1, "images": 1, "embeddings": 1})
    return [{key: value for key, value in product.items() if key != "account"} async for product in found]


def _made_by_others(account_id: str, embedder: str) -> dict:
    # Also matches products without the field, as MongoDB's $ne would; nx-27017's updates skip those under $ne.
    return {"account": account_id, "embedder": {"$nin": [embedder]}}


async def made_by_others(db: AsyncDatabase, account_id: str, embedder: str) -> list[dict]:
    """The shop's products whose vectors another embedder made (or an unrecorded one), with their images."""
    return await db.products.find(_made_by_others(account_id, embedder), {"images": 1}).to_list(length=None)


async def count_made_by_others(db: AsyncDatabase, account_id: str, embedder: str) -> int:
    """How many of the shop's products hold another embedder's vectors (the catalogue index's status asks, and a
    shop's first similar-items query in a process: api/domain/reembedder.py). By `common.count`: pymongo's
    `count_documents` read every product of the collection (4.9 s against 67 ms at 20,000 products over 5 shops;
    scripts/bench_lists.py)."""
    return await count(db.products, _made_by_others(account_id, embedder))


async def set_embeddings(db: AsyncDatabase, account_id: str, product_id: str, vectors: dict[str, Any]) -> bool:
    """Store vectors made again (`embeddings`, `signals`, `embedder`: api/domain/embedding.py `vectors_of`); False
    when the product is gone or already has this embedder's (its images were replaced meanwhile). `updated` is left
    alone: the product did not change for the shop."""
    result = await db.products.update_one({**_made_by_others(account_id, vectors["embedder"]), "_id": product_id},
                                          {"$set": vectors})
    return result.modified_count == 1


# A shop whose re-embedding pass has begun and not ended (`api/domain/reembedder.py`): its stored vectors may be ahead of
# its index file. Kept in the database so that a pass cut off by a crash is finished by the next one.
async def begin_reembedding(db: AsyncDatabase, account_id: str, embedder: str) -> None:
    await db.reembedding.update_one({"_id": account_id}, {"$set": {"embedder": embedder, "started": now()}},
                                    upsert=True)


async def reembedding_begun(db: AsyncDatabase, account_id: str) -> bool:
    return await db.reembedding.find_one({"_id": account_id}) is not None


async def end_reembedding(db: AsyncDatabase, account_id: str) -> None:
    await db.reembedding.delete_one({"_id": account_id})
