"""Each shop's change sequence: how every API replica keeps its own copy of the shop's vector index in step.

MongoDB is the source of truth for vectors (the `embeddings` of `products`); an index directory is a cache that
no two hosts share. Every change of a product's vectors is written in this order:
1. the product itself (inserted, its vectors replaced, or deleted);
2. `catalogue_seq` {_id: shop, seq}: `$inc` gives the change its number, 1, 2, 3, … per shop, no number twice;
3. `catalogue_changes` {account: shop, seq, key, product, at, at_s}: one entry per number (`key`: the shop and the
   number in one string that sorts like the number, read by `since`; `at_s`: `at` in epoch seconds, for `prune`).
A replica whose copy is at number n reads the entries after n and makes each named product what the database
now holds (present: its current vectors; absent: removed), which is right whatever order the writes landed in,
since step 1 precedes the number. A number without its entry is a write between steps 2 and 3: a few
milliseconds, or forever when that writer died there; the reader waits for it `GAP_WAIT_S` and then rebuilds from
the database (api/domain/catalogue.py), which is also what a new replica does.

Entries older than `KEEP_DAYS` are deleted by the worker's daily housekeeping (`prune`); a copy further behind finds
a gap and rebuilds. Not by a TTL index: nx-27017 deletes a TTL index's expired documents on every read of the
collection, whole-collection deletes that made `since` 52.6 ms among 20,000 entries against 2.1 ms without one
(`python -m scripts.bench_changes`, docs/benchmarks.md), at every catch-up of every replica.

A replica reads the entries after its number by `key` (one string, with an index of its own) rather than by
(account, seq): nx-27017 uses a single-field index only and reads a compound one whole, every catalogue's entries
(14.2 ms against 0.35 for 4 new entries among 20,000; throwaway script), at every catch-up of every replica.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Iterable

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from api.data.common import now, once

KEEP_DAYS = 7
GAP_WAIT_S = 5.0


NUMBER_DIGITS = 16


def key(shop: str, seq: int) -> str:
    """The entry's `key`: the shop and its number, zero-padded so that the strings sort like the numbers."""
    return f"{shop}:{seq:0{NUMBER_DIGITS}d}"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.catalogue_changes.create_index([("account", ASCENDING), ("seq", ASCENDING)], unique=True)
    await db.catalogue_changes.create_index("key")
    await db.catalogue_changes.create_index("at_s")
    for name, index in (await db.catalogue_changes.index_information()).items():
        if "expireAfterSeconds" in index:  # a database from before `prune`: the TTL index that expired entries
            await db.catalogue_changes.drop_index(name)
    await once(db, "catalogue_changes.key", lambda: _backfill_keys(db))
    await once(db, "catalogue_changes.at_s", lambda: _backfill_times(db))


async def _backfill_keys(db: AsyncDatabase) -> None:
    """Entries logged before they had a `key` get theirs (a replica reading by key would take them for a gap)."""
    async for entry in db.catalogue_changes.find({"key": {"$exists": False}}, {"account": 1, "seq": 1}):
        await db.catalogue_changes.update_one({"_id": entry["_id"]}, {"$set": {"key": key(entry["account"], entry["seq"])}})


async def _backfill_times(db: AsyncDatabase) -> None:
    """Entries logged before they had an `at_s` get theirs (`prune` would never delete them)."""
    async for entry in db.catalogue_changes.find({"at_s": {"$exists": False}}, {"at": 1}):
        await db.catalogue_changes.update_one({"_id": entry["_id"]}, {"$set": {"at_s": entry["at"].timestamp()}})


async def record(db: AsyncDatabase, shop: str, product_ids: Iterable[str]) -> int:
    """Number the change of these products' vectors (written already) and log it; the shop's last number."""
    products = list(dict.fromkeys(product_ids))
    if not products:
        return await position(db, shop)
    counter = await db.catalogue_seq.find_one_and_update({"_id": shop}, {"$inc": {"seq": len(products)}},
                                                         upsert=True, return_document=ReturnDocument.AFTER)
    last, moment = int(counter["seq"]), now()
    first = last - len(products) + 1
    await db.catalogue_changes.insert_many(
        [{"account": shop, "seq": first + i, "key": key(shop, first + i), "product": product, "at": moment,
          "at_s": moment.timestamp()} for i, product in enumerate(products)],
        ordered=False)
    return last


async def position(db: AsyncDatabase, shop: str) -> int:
    """The shop's last number (0 before its first change)."""
    counter = await db.catalogue_seq.find_one({"_id": shop})
    return int(counter["seq"]) if counter else 0


async def since(db: AsyncDatabase, shop: str, seq: int, limit: int) -> list[dict]:
    """The shop's entries numbered after `seq`, in order, at most `limit`."""
    after = {"$gt": key(shop, seq), "$lte": key(shop, 10**NUMBER_DIGITS - 1)}
    cursor = db.catalogue_changes.find({"key": after}, {"_id": 0, "seq": 1, "product": 1, "at": 1})
    return await cursor.sort("key", ASCENDING).limit(limit).to_list(length=limit)


async def prune(db: AsyncDatabase) -> int:
    """Delete the entries logged more than `KEEP_DAYS` ago, every shop's; how many. (By `at_s`: nx-27017 compares a
    stored date with a queried one as text, api/data/common.py `count`.)"""
    cutoff = time.time() - KEEP_DAYS * 86_400
    return (await db.catalogue_changes.delete_many({"at_s": {"$lt": cutoff}})).deleted_count


def in_order(entries: list[dict], seq: int) -> tuple[list[dict], dict | None]:
    """(the entries that follow `seq` without a gap, the first entry after a gap or None)."""
    for offset, entry in enumerate(entries):
        if entry["seq"] != seq + offset + 1:
            return entries[:offset], entry
    return entries, None


def gap_is_lost(after_gap: dict) -> bool:
    """A missing number whose successor was logged more than GAP_WAIT_S ago will not come (a writer died between
    numbering and logging, or the entry expired)."""
    return now() - after_gap["at"] > timedelta(seconds=GAP_WAIT_S)

