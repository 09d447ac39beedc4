"""Callback URLs a shop registered, and the record of each delivery attempt."""
from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.core.security import new_id
from api.data.common import now, page, stamped


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.callbacks.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.deliveries.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.deliveries.create_index([("callback_id", ASCENDING)])


async def create(db: AsyncDatabase, account_id: str, url: str, events: list[str], secret: str) -> dict:
    callback = {"_id": new_id(), "account": account_id, "url": url, "events": events, "secret": secret, "created": now()}
    await db.callbacks.insert_one(callback)
    return callback


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.callbacks, {"account": account_id}, offset, limit, {"secret": 0})


async def for_account(db: AsyncDatabase, account_id: str) -> list[dict]:
    """Every callback of the shop, sealed secrets included (for signing)."""
    return await db.callbacks.find({"account": account_id}).to_list(length=None)


async def get(db: AsyncDatabase, account_id: str, callback_id: str) -> dict | None:
    return await db.callbacks.find_one({"_id": callback_id, "account": account_id}, {"secret": 0})


async def delete(db: AsyncDatabase, account_id: str, callback_id: str) -> bool:
    return (await db.callbacks.delete_one({"_id": callback_id, "account": account_id})).deleted_count == 1


async def with_secret(db: AsyncDatabase, account_id: str, callback_id: str) -> dict | None:
    """The callback with its sealed secret (for signing)."""
    return await db.callbacks.find_one({"_id": callback_id, "account": account_id})


async def record_delivery(db: AsyncDatabase, delivery: dict[str, Any]) -> None:
    await db.deliveries.replace_one({"_id": delivery["_id"]}, delivery, upsert=True)


async def get_delivery(db: AsyncDatabase, delivery_id: str) -> dict | None:
    return await db.deliveries.find_one({"_id": delivery_id})


async def record_attempt(db: AsyncDatabase, delivery_id: str, response_status: int | None, error: str | None, *,
                         delivered: bool = False) -> None:
    """One attempt's answer; `delivered`: the delivery is settled as delivered, now (the server's time, a date:
    `stamped`; a datetime given to `$set` came back from nx-27017 as a string without its time zone)."""
    changes: dict[str, Any] = {"response_status": response_status, "last_error": error}
    if delivered:
        changes["status"] = "delivered"
    await db.deliveries.update_one({"_id": delivery_id}, {**stamped(changes, *(["delivered"] if delivered else [])),
                                                           "$inc": {"attempts": 1}})


async def settle_delivery(db: AsyncDatabase, delivery_id: str, status: str, error: str) -> None:
    await db.deliveries.update_one({"_id": delivery_id}, {"$set": {"status": status, "last_error": error}})


def new_delivery(account_id: str, callback_id: str, event: str, url: str) -> dict:
    return {"_id": new_id(), "account": account_id, "callback_id": callback_id, "event": event, "url": url,
            "status": "pending", "attempts": 0, "last_error": None, "response_status": None, "created": now(),
            "delivered": None}


async def deliveries(db: AsyncDatabase, account_id: str, callback_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.deliveries, {"account": account_id, "callback_id": callback_id}, offset, limit)
