"""Counters every API replica shares (KALAS_LIMITS_STORE=database): request windows and failed-credential counts.

`limits` {_id: key, n, until?, expires}: a fixed window's request count (api/core/ratelimit.py), or a key's failed
guesses and the moment it may try again (api/core/guessing.py). Each counter carries the moment it is no longer
needed; a TTL index removes it then.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.limits.create_index("expires", expireAfterSeconds=0)


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, timezone.utc)


async def count(db: AsyncDatabase, key: str, keep_until_s: float) -> int:
    """Add one to `key`'s counter and return it (1 for a new counter)."""
    found = await db.limits.find_one_and_update({"_id": key}, {"$inc": {"n": 1}, "$setOnInsert": {"expires": _at(keep_until_s)}},
                                                upsert=True, return_document=ReturnDocument.AFTER)
    return int(found["n"])


async def hold_until(db: AsyncDatabase, key: str, until_s: float, keep_s: float) -> None:
    """Record when `key` may try again, and keep its counter `keep_s` after that."""
    await db.limits.update_one({"_id": key}, {"$set": {"until": until_s, "expires": _at(until_s + keep_s)}})


async def held_until(db: AsyncDatabase, keys: list[str]) -> list[float]:
    """The moments (epoch seconds) each of the keys that have one may try again."""
    return [doc["until"] async for doc in db.limits.find({"_id": {"$in": keys}}, {"until": 1}) if "until" in doc]


async def clear(db: AsyncDatabase, key: str) -> None:
    await db.limits.delete_one({"_id": key})
