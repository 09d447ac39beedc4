"""API keys: stored as a SHA-256 hash with a short public prefix; revoked keys stay listed with their date."""
from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.core.security import IssuedKey, new_id
from api.data.common import count, now, page, stamped

# Writing last_used on every request would add a database write to each call; a minute's precision is enough.
LAST_USED_PRECISION = timedelta(seconds=60)


# A key document's `_id` is the key's hash, so authenticating a request is a lookup by `_id` (on nx-27017 about
# three times faster than by another indexed field); `key_id` is the public id that lists and revocation use.
# (Not `id`: nx-27017 neither indexes nor matches a top-level field called `id`, its SQLite row id.)
_PUBLIC = {"_id": 0}


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.api_keys.create_index([("key_id", ASCENDING)], unique=True)
    await db.api_keys.create_index([("account", ASCENDING), ("created", ASCENDING)])
    # nx-27017 reads every shop's keys for a query on `account` unless it has an index of its own (a shop's keys
    # 3.2 → 1.6 ms at 2,000 keys of 5 shops; scripts/bench_lists.py).
    await db.api_keys.create_index([("account", ASCENDING)])


async def create(db: AsyncDatabase, account_id: str, name: str, issued: IssuedKey) -> dict:
    """The stored key without its hash: {key_id, account, name, prefix, created, last_used, revoked}."""
    key = {"_id": issued.hash, "key_id": new_id(), "account": account_id, "name": name, "prefix": issued.prefix,
           "created": now(), "last_used": None, "revoked": None}
    await db.api_keys.insert_one(key)
    return {k: v for k, v in key.items() if k != "_id"}


async def live_count(db: AsyncDatabase, account_id: str) -> int:
    """How many of the shop's keys are not revoked."""
    return await count(db.api_keys, {"account": account_id, "revoked": None})


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.api_keys, {"account": account_id}, offset, limit, _PUBLIC)


async def get(db: AsyncDatabase, account_id: str, key_id: str) -> dict | None:
    return await db.api_keys.find_one({"key_id": key_id, "account": account_id}, _PUBLIC)


async def revoke(db: AsyncDatabase, account_id: str, key_id: str) -> dict | None:
    """The key after revoking it (revoking twice keeps the first date), or None if this shop has no such key."""
    await db.api_keys.update_one({"key_id": key_id, "account": account_id, "revoked": None}, stamped(None, "revoked"))
    return await get(db, account_id, key_id)


async def live(db: AsyncDatabase, key_hash: str) -> dict | None:
    """The key with this hash, or None for unknown or revoked keys."""
    key = await db.api_keys.find_one({"_id": key_hash})
    return None if key is None or key["revoked"] is not None else key


async def record_use(db: AsyncDatabase, key: dict) -> None:
    """Refresh the key's last-used time when the stored one is older than LAST_USED_PRECISION (`key` is updated too)."""
    moment = now()
    if key["last_used"] is None or moment - key["last_used"] > LAST_USED_PRECISION:
        await db.api_keys.update_one({"_id": key["_id"]}, stamped(None, "last_used"))
        key["last_used"] = moment
