"""Each shop's own models (kalas/shop_model.py), one document per trained version, and the examples they learn from.

A version's document holds the report of its training (held-out figures, examples per term) and when it was
trained; the model's arrays are one compressed `.npz` blob in GridFS (bucket `shop_model_arrays`, the file's id the
version's), in the same database, so every replica reads it. A document cannot hold them: the vote keeps every
product's vector, about 1.4 MB a thousand products compressed, and a 12,000-product shop's blob (16.1 MiB) was
refused as larger than a document may be (`DocumentTooLarge`), so its training failed. Versions stored before
2026-12-07 keep their blob in the document's `arrays`, and are read as they are. Arrays whose version was never
stored (a worker stopped between the two writes) are deleted by the daily housekeeping (`prune_orphans`). The
newest version answers; KEEP_VERSIONS are kept so that a shop can see how its model moved.
"""
from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
from bson import Binary
from gridfs import AsyncGridFSBucket
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import delete_file, now

KEEP_VERSIONS = 5
BUCKET = "shop_model_arrays"
ORPHAN_AFTER_S = 3600.0  # arrays with no version this long after their upload belong to a training that stopped
_NO_ARRAYS = {"arrays": 0}


def _bucket(db: AsyncDatabase) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(db, bucket_name=BUCKET)


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.shop_models.create_index([("account", ASCENDING), ("version", DESCENDING)], unique=True)
    # What nx-27017 reads a shop's versions through: it reads a compound index whole, every shop's models with their
    # arrays, at each process's check for a newer version (every 5 s a shop): 45 ms against 2.8 ms among 50 shops'
    # 5 versions, 29 against 2.0 in another run (`python -m scripts.bench_nx_reads`).
    await db.shop_models.create_index([("account", ASCENDING)])


def pack(arrays: dict[str, np.ndarray]) -> Binary:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return Binary(buffer.getvalue())


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


async def insert_version(db: AsyncDatabase, account_id: str, values: dict[str, Any], arrays: dict[str, np.ndarray],
                         report: dict[str, Any]) -> dict:
    """Store a newly trained model as the shop's next version: its arrays first, then its document (returned,
    without the arrays); older versions beyond KEEP_VERSIONS are deleted, documents first, then their arrays."""
    model_id = new_id()
    # When, in the metadata: nx-27017 answers a file's uploadDate as a string.
    await _bucket(db).upload_from_stream_with_id(model_id, f"shop-model-{model_id}.npz", pack(arrays),
                                                 metadata={"account": account_id, "at_s": time.time()})
    try:
        for _ in range(5):
            latest = await db.shop_models.find_one({"account": account_id}, {"version": 1},
                                                   sort=[("version", DESCENDING)])
            document = {"_id": model_id, "account": account_id, "version": (latest["version"] + 1) if latest else 1,
                        **values, "report": report, "created": now()}
            try:
                await db.shop_models.insert_one(document)
                break
            except DuplicateKeyError:  # two trainings finished at once: the later one takes the next number
                continue
        else:
            raise RuntimeError("could not number the shop model's version: the versions kept changing")
    except BaseException:
        await delete_file(_bucket(db), model_id)  # a model never stored leaves no arrays behind
        raise
    await _delete_versions(db, {"account": account_id, "version": {"$lte": document["version"] - KEEP_VERSIONS}})
    return document


async def remove_shop(db: AsyncDatabase, account_id: str) -> int:
    """Delete every version of the shop's models with their arrays (a shop leaving); how many there were."""
    return await _delete_versions(db, {"account": account_id})


async def prune_orphans(db: AsyncDatabase, older_than_s: float = ORPHAN_AFTER_S) -> int:
    """Delete arrays whose version was never stored (a worker stopped between the two writes) once they are
    `older_than_s` old (a training may be storing its version now); how many."""
    versions = {str(d["_id"]) async for d in db.shop_models.find({}, {"_id": 1})}
    cutoff = time.time() - older_than_s
    orphans = [f["_id"] async for f in db[f"{BUCKET}.files"].find({})
               if str(f["_id"]) not in versions and (f.get("metadata") or {}).get("at_s", 0.0) < cutoff]
    for file_id in orphans:
        await delete_file(_bucket(db), file_id)
    return len(orphans)


async def _delete_versions(db: AsyncDatabase, query: dict[str, Any]) -> int:
    """The versions' documents first, then their arrays: a version is never listed without them. Through the GridFS
    API, which nx-27017 keeps natively (its `.files` collection answers `find`, not `delete_many`)."""
    found = [d["_id"] async for d in db.shop_models.find(query, {"_id": 1})]
    if found:
        await db.shop_models.delete_many({"_id": {"$in": found}})
    for model_id in found:  # none for a version stored before its arrays went to GridFS
        await delete_file(_bucket(db), model_id)
    return len(found)


async def latest(db: AsyncDatabase, account_id: str, *, with_arrays: bool = False) -> dict | None:
    """The shop's newest version; `with_arrays`: with its blob in `arrays` (from GridFS, or the document's own)."""
    document = await db.shop_models.find_one({"account": account_id}, None if with_arrays else _NO_ARRAYS,
                                             sort=[("version", DESCENDING)])
    if with_arrays and document is not None and "arrays" not in document:
        document["arrays"] = await (await _bucket(db).open_download_stream(document["_id"])).read()
    return document


async def latest_version(db: AsyncDatabase, account_id: str) -> int | None:
    found = await db.shop_models.find_one({"account": account_id}, {"version": 1}, sort=[("version", DESCENDING)])
    return None if found is None else found["version"]


async def versions(db: AsyncDatabase, account_id: str) -> list[dict]:
    """The kept versions, newest first, with their reports and without their arrays. The whole report is read:
    nx-27017 answers a projection of a nested field ("report.products") as a top-level key of that name."""
    cursor = db.shop_models.find({"account": account_id}, {"version": 1, "created": 1, "report": 1}
                                 ).sort("version", DESCENDING)
    return await cursor.to_list(length=KEEP_VERSIONS)


# Which products carry terms is decided here, not in the query: nx-27017 matches no array element by `$type`,
# `$gt` or `field.0` (checked with 0.8.1), and a non-empty list has no other portable test.
async def _with_terms(db: AsyncDatabase, account_id: str, projection: dict[str, int]) -> list[dict]:
    cursor = db.products.find({"account": account_id}, {"categories": 1, "tags": 1, **projection})
    return [p async for p in cursor if p.get("categories") or p.get("tags")]


async def examples(db: AsyncDatabase, account_id: str) -> list[dict]:
    """The shop's products that carry any of its own terms, with their vectors and names (and, for a store product,
    where it came from): what its model learns from."""
    return await _with_terms(db, account_id, {"embeddings": 1, "signals": 1, "embedder": 1, "title": 1, "source": 1})


async def term_names(db: AsyncDatabase, account_id: str) -> tuple[list[str], list[str]]:
    """(every category, every tag) that any of the shop's products carries: two `distinct` queries (12 ms over
    5,000 products on nx-27017, where reading the products' terms took 95 ms)."""
    return (await db.products.distinct("categories", {"account": account_id}),
            await db.products.distinct("tags", {"account": account_id}))


async def term_lists(db: AsyncDatabase, account_id: str) -> list[dict]:
    """The shop's products that carry any of its own terms, with those terms only."""
    return await _with_terms(db, account_id, {})


async def changed_since(db: AsyncDatabase, account_id: str, moment: Any) -> int:
    """How many of the shop's products were created or changed after `moment` (None: every product)."""
    query: dict[str, Any] = {"account": account_id}
    if moment is not None:
        query["updated"] = {"$gt": moment}
    return await db.products.count_documents(query)
