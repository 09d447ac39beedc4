"""WooCommerce stores registered by shops, and the webhook deliveries they sent.

Store secrets arrive here already sealed (api/integrations/vault.py); this module never sees them in clear.
A delivery is recorded once: WooCommerce builds a delivery id from the webhook id and the current second, so two
deliveries of one second share an id; the body's hash is therefore part of the de-duplication key.
"""
from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import now, page


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.integrations.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.webhook_deliveries.create_index([("integration", ASCENDING), ("delivery_key", ASCENDING)], unique=True)
    await db.webhook_deliveries.create_index([("integration", ASCENDING), ("received", DESCENDING)])


async def create(db: AsyncDatabase, account_id: str, fields: dict[str, Any]) -> dict:
    integration = {"_id": new_id(), "account": account_id, "kind": "woocommerce", **fields, "created": now(),
                   "last_ping": None, "last_sync": None}
    await db.integrations.insert_one(integration)
    return integration


async def get(db: AsyncDatabase, account_id: str, integration_id: str) -> dict | None:
    return await db.integrations.find_one({"_id": integration_id, "account": account_id})


async def by_id(db: AsyncDatabase, integration_id: str) -> dict | None:
    """For the webhook endpoint and the worker, which act for the store rather than for a signed-in shop."""
    return await db.integrations.find_one({"_id": integration_id})


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.integrations, {"account": account_id}, offset, limit)


async def delete(db: AsyncDatabase, account_id: str, integration_id: str) -> bool:
    return (await db.integrations.delete_one({"_id": integration_id, "account": account_id})).deleted_count == 1


async def record_ping(db: AsyncDatabase, integration_id: str, webhook_id: int) -> None:
    await db.integrations.update_one({"_id": integration_id},
                                     {"$set": {"last_ping": {"webhook_id": webhook_id, "at": time.time()}}})


async def record_sync(db: AsyncDatabase, integration_id: str, sync: dict[str, Any]) -> None:
    await db.integrations.update_one({"_id": integration_id}, {"$set": {"last_sync": sync}})


async def seen_delivery(db: AsyncDatabase, integration_id: str, delivery_key: str) -> dict | None:
    return await db.webhook_deliveries.find_one({"integration": integration_id, "delivery_key": delivery_key})


async def record_delivery(db: AsyncDatabase, integration_id: str, delivery_key: str, fields: dict[str, Any]) -> bool:
    """False when this delivery was recorded already (a concurrent duplicate)."""
    try:
        await db.webhook_deliveries.insert_one({"_id": new_id(), "integration": integration_id,
                                                "delivery_key": delivery_key, "received": time.time(), **fields})
    except DuplicateKeyError:
        return False
    return True


async def deliveries(db: AsyncDatabase, integration_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    query = {"integration": integration_id}
    total = await db.webhook_deliveries.count_documents(query)
    cursor = db.webhook_deliveries.find(query).sort([("received", DESCENDING), ("_id", DESCENDING)])
    return await cursor.skip(offset).limit(limit).to_list(length=limit), total


async def catalogue_product(db: AsyncDatabase, account_id: str, integration_id: str, product_id: int) -> dict | None:
    """The shop's catalogue product made from this store product, if any."""
    return await db.products.find_one({"account": account_id, "source.integration": integration_id,
                                       "source.product_id": product_id}, {"embeddings": 0})


async def every(db: AsyncDatabase, integration_ids: list[str] | None = None) -> list[dict]:
    """All registered stores, or those of `integration_ids` (operators' scripts: no shop context)."""
    query = {"_id": {"$in": integration_ids}} if integration_ids else {}
    return await db.integrations.find(query).to_list(length=None)
