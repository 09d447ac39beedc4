"""Catalogue products: title, shop SKU, images and the embedding that sits in the shop's vector index.

`vector_id` is the product's key in the FAISS index (FAISS keys are 64-bit integers, product ids are strings).
The embedding is stored with the product so an index can be rebuilt from the database without the models.
"""
from __future__ import annotations

import secrets
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import now, page, stamped


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.products.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.products.create_index([("account", ASCENDING), ("vector_id", ASCENDING)], unique=True)
    await db.products.create_index([("account", ASCENDING), ("sku", ASCENDING)])


def new_product(account_id: str, fields: dict[str, Any], image_ids: list[str], embedding: list[float], model: dict) -> dict:
    moment = now()
    # 62 random bits: positive in int64, and collisions within one shop are caught by the unique index.
    return {"_id": new_id(), "account": account_id, "vector_id": secrets.randbits(62), **fields,
            "image_ids": image_ids, "embedding": embedding, "model": model, "created": moment, "updated": moment}


async def insert(db: AsyncDatabase, product: dict) -> dict | None:
    """The product, or None when its SKU is already used in this shop."""
    if product.get("sku") and await db.products.find_one({"account": product["account"], "sku": product["sku"]}, {"_id": 1}):
        return None
    try:
        await db.products.insert_one(product)
    except DuplicateKeyError:
        return None
    return product


async def get(db: AsyncDatabase, account_id: str, product_id: str) -> dict | None:
    return await db.products.find_one({"_id": product_id, "account": account_id}, {"embedding": 0})


async def by_vector_ids(db: AsyncDatabase, account_id: str, vector_ids: list[int]) -> dict[int, dict]:
    found = db.products.find({"account": account_id, "vector_id": {"$in": vector_ids}}, {"embedding": 0})
    return {product["vector_id"]: product async for product in found}


async def sku_taken(db: AsyncDatabase, account_id: str, sku: str, except_id: str | None = None) -> bool:
    query: dict[str, Any] = {"account": account_id, "sku": sku}
    if except_id:
        query["_id"] = {"$ne": except_id}
    return await db.products.find_one(query, {"_id": 1}) is not None


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.products, {"account": account_id}, offset, limit, {"embedding": 0})


async def update(db: AsyncDatabase, account_id: str, product_id: str, changes: dict[str, Any]) -> dict | None:
    """The product after the change, or None if this shop has no such product."""
    result = await db.products.update_one({"_id": product_id, "account": account_id}, stamped(changes, "updated"))
    return await get(db, account_id, product_id) if result.matched_count else None


async def delete(db: AsyncDatabase, account_id: str, product_id: str) -> dict | None:
    return await db.products.find_one_and_delete({"_id": product_id, "account": account_id})


async def embeddings(db: AsyncDatabase, account_id: str) -> list[tuple[int, list[float]]]:
    """(vector id, embedding) of every product of a shop: what rebuilding its index needs."""
    cursor = db.products.find({"account": account_id}, {"vector_id": 1, "embedding": 1})
    return [(p["vector_id"], p["embedding"]) async for p in cursor]
