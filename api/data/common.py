"""What every resource module shares: the clock, offset pagination, an insert whose answer may be lost, and deleting
a GridFS file that may not be there."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from gridfs import AsyncGridFSBucket, NoFile
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

log = logging.getLogger(__name__)
NEWEST_FIRST = [("created", DESCENDING), ("_id", DESCENDING)]
UNKNOWN_ERROR = 8  # MongoDB's UnknownError: nx-27017's answer when its storage lost an insert's row id
INSERT_TRIES = 3


def now() -> datetime:
    # MongoDB stores milliseconds; truncating here makes a value read back equal the value written.
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def stamped(changes: dict[str, Any] | None, *fields: str) -> dict[str, Any]:
    """An update setting `changes` and stamping `fields` with the server's current time.

    Why $currentDate and not `$set: {field: datetime}`: nx-27017 stores a top-level datetime given to $set as
    a string (a datetime inside an inserted document, or nested in a $set sub-document, stays a date).
    $currentDate keeps the BSON date type on nx-27017 and on MongoDB alike.
    """
    update: dict[str, Any] = {"$currentDate": {field: True for field in fields}}
    if changes:
        update["$set"] = changes
    return update


async def page(collection: AsyncCollection, query: dict[str, Any], offset: int, limit: int,
               projection: dict[str, Any] | None = None,
               order: list[tuple[str, int]] = NEWEST_FIRST) -> tuple[list[dict], int]:
    """(documents of this page in `order`, by default newest first with ties broken by id so pages never overlap;
    total matching)."""
    total = await count(collection, query)
    cursor = collection.find(query, projection).sort(order).skip(offset).limit(limit)
    return await cursor.to_list(length=limit), total


async def count(collection: AsyncCollection, query: dict[str, Any]) -> int:
    """How many documents match `query`: pymongo's `count_documents` pipeline, grouped by null instead of by 1.
    nx-27017 cannot group by a constant in SQL, and answers pymongo's pipeline by decoding every document of the
    collection in Python, whatever the query; grouped by null it counts in SQL, through an index when
    the query has one it uses (a shop's product list, total and first page, 5.3 s → 0.29 s at 20,000 products over
    5 shops, the review queue 1.0 → 0.05 s; `scripts/bench_lists.py`). MongoDB runs both alike.

    Not for a query that compares dates: nx-27017's SQL compares a stored date with the asked one as text in another
    format, and counts wrong (`{"updated": {"$gt": moment}}` counted 100 where 50 matched; api/data/shop_models.py
    `changed_since` therefore keeps `count_documents`)."""
    pipeline = [{"$match": query}, {"$group": {"_id": None, "n": {"$sum": 1}}}]
    counted = await (await collection.aggregate(pipeline)).to_list(length=1)
    return counted[0]["n"] if counted else 0


async def once(db: AsyncDatabase, name: str, backfill: Callable[[], Awaitable[None]]) -> None:
    """Run a backfill of documents stored before a field existed once per database, recorded in `migrations`: its
    query reads every document lacking the field, which nx-27017 answers by reading the whole collection (1.9 s at
    20,000 products, at every start of every process; measured). Two processes starting together may both run it;
    a backfill is idempotent."""
    if await db.migrations.find_one({"_id": name}) is not None:
        return
    await backfill()
    try:
        await db.migrations.insert_one({"_id": name, "at": now()})
    except DuplicateKeyError:
        pass


async def unique_index(collection: AsyncCollection, keys: list[tuple[str, int]], doubled: str,
                       **options: Any) -> bool:
    """True when `collection` has a unique index on `keys` (made now, in place of a plain one on them: nx-27017
    leaves an index as it is when asked for it again with other options, docs/api.md). False while documents that
    share those keys are stored, which a unique index cannot be made over: then a plain one stands in (lookups stay
    quick), logged with what is `doubled`, and the caller's repair, if it has one, comes back here."""
    fields = [field for field, _ in keys]
    for name, index in (await collection.index_information()).items():
        if [field for field, _ in index["key"]] == fields:
            if index.get("unique"):
                return True
            await collection.drop_index(name)
    try:
        await collection.create_index(keys, unique=True, **options)
        return True
    except OperationFailure as error:
        log.warning("%s: %s is not unique yet (%s)", collection.name, doubled, error)
        await collection.create_index(keys)
        return False


async def insert_once(collection: AsyncCollection, document: dict[str, Any]) -> None:
    """Insert `document` (its `_id` set by the caller) exactly once, though the server answer an error after the
    write: nx-27017 (neosqlite 1.17.2) now and then answers an insert under load `WriteError` code 8, "Failed to get
    last row id." (docs/api.md). After such an answer the document is looked up by its `_id`: there, it went in;
    else it is inserted again. A `DuplicateKeyError` on a try after the first is the earlier try's own document
    when its `_id` is there; otherwise another document holds a unique key, and the error is raised, as on the
    first try."""
    for tries in range(1, INSERT_TRIES + 1):
        try:
            await collection.insert_one(document)
            return
        except DuplicateKeyError:
            if tries > 1 and await _there(collection, document):
                return
            raise
        except WriteError as error:
            if error.code != UNKNOWN_ERROR or tries == INSERT_TRIES:
                raise
            there = await _there(collection, document)
            log.warning("an insert into %s answered %r (try %d); the document is %s", collection.name, str(error),
                        tries, "there" if there else "not there: inserted again")
            if there:
                return


async def _there(collection: AsyncCollection, document: dict[str, Any]) -> bool:
    return await collection.find_one({"_id": document["_id"]}, {"_id": 1}) is not None


async def delete_file(bucket: AsyncGridFSBucket, file_id: Any) -> bool:
    """Delete a GridFS file; False when there is none (never written, or its bytes were stored elsewhere). MongoDB
    says so with NoFile, nx-27017, which keeps GridFS natively, with an error of its own ("File with id … not
    found")."""
    try:
        await bucket.delete(file_id)
    except NoFile:
        return False
    except OperationFailure as error:
        if "not found" not in str(error):
            raise
        return False
    return True
