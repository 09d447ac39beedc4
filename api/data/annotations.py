"""Annotations: what the model said about one stored image of a shop, and the latest human correction."""
from __future__ import annotations

from typing import Any, AsyncIterator

from bson import SON
from pymongo import ASCENDING, DESCENDING, InsertOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ClientBulkWriteException, InvalidOperation
from pymongo.topology_description import TOPOLOGY_TYPE

from api.core.security import new_id
from api.data.common import now, page


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.annotations.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.annotations.create_index([("account", ASCENDING), ("reviewed", ASCENDING)])


def new_annotation(account_id: str, image: dict, source: dict[str, Any], crop: dict | None, result: dict) -> dict:
    """`image` is the stored image's document; its id and size are copied so lists never load image bytes."""
    meta = {"id": image["_id"], "width": image["width"], "height": image["height"]}
    return {"_id": new_id(), "account": account_id, "image": meta, "source": source, "crop": crop,
            "category": result["category"], "attributes": result["attributes"], "colours": result["colours"],
            "model": result["model"], "created": now(), "reviewed": False, "review": None}


# MongoDB 8.0, the first server with the bulkWrite command.
BULK_WRITE_WIRE_VERSION = 25


async def insert_with_images(db: AsyncDatabase, stored: list[tuple[dict, dict]]) -> None:
    """Each (annotation, image document) pair, image first, in one round trip: all of them or, after a failure
    (raised again), none; the images' files are the caller's (api/domain/annotations.py). One client-level bulkWrite,
    ordered, saves a round trip per request (about 0.3 ms of this process's CPU on nx-27017): sent as a plain
    command where that is safe (`_send_as_command`), otherwise through pymongo's bulk_write; servers before
    MongoDB 8.0 have no bulkWrite, and get two inserts."""
    writes = as_writes(stored)
    if not writes:
        return
    try:
        if _send_as_command(db):
            await _bulk_write_command(db, writes)
        else:
            await db.client.bulk_write([InsertOne(document, namespace=f"{db.name}.{collection}")
                                        for collection, document in writes])
    except InvalidOperation:  # raised before anything is sent when the server is older than 8.0
        await _insert_in_two(db, writes)
    except ClientBulkWriteException as error:
        # Ordered: the writes before the first failed one landed, none after it.
        landed = min((e["idx"] for e in error.write_errors), default=len(writes))
        await _remove(db, writes[:landed])
        raise
    except BaseException:
        await _remove(db, writes)  # unknown how far it got: our ids are new, so removing all of them is safe
        raise


def as_writes(stored: list[tuple[dict, dict]]) -> list[tuple[str, dict]]:
    """(collection, document) in the order they are written: each pair's image, then its annotation."""
    return [(collection, document) for annotation, image in stored
            for collection, document in (("images", image), ("annotations", annotation))]


def _send_as_command(db: AsyncDatabase) -> bool:
    """Whether the writes can go as one bulkWrite command instead of through pymongo's client-level bulk_write.

    The same command on the wire either way; the plain command costs this process about 0.25 ms less CPU (0.87
    against 1.11 ms, and 0.2 ms less wall time, after the 28 ms the database idles while the model works; measured
    on nx-27017). Only on a standalone server, where pymongo retries no write either: on a replica set
    bulk_write retries a write cut short by a change of primary, which a command would not.
    """
    topology = db.client.topology_description
    if topology.topology_type != TOPOLOGY_TYPE.Single:
        return False
    servers = list(topology.server_descriptions().values())
    # The documents are small (the image bytes are in files): even the largest batch is far below the 16 MiB
    # that MongoDB allows one command.
    return len(servers) == 1 and (servers[0].max_wire_version or 0) >= BULK_WRITE_WIRE_VERSION


async def _bulk_write_command(db: AsyncDatabase, writes: list[tuple[str, dict]]) -> None:
    """The writes as one ordered bulkWrite command; a failed write raises ClientBulkWriteException, as bulk_write
    does (its writeErrors hold the index of the first write that failed: the ones before it landed)."""
    namespaces = list(dict.fromkeys(collection for collection, _ in writes))
    command = SON([("bulkWrite", 1),
                   ("ops", [{"insert": namespaces.index(collection), "document": document}
                            for collection, document in writes]),
                   ("nsInfo", [{"ns": f"{db.name}.{collection}"} for collection in namespaces]),
                   ("ordered", True), ("errorsOnly", True)])
    reply = await db.client.admin.command(command)
    # errorsOnly: the cursor holds only failed writes; ordered, the server stops at the first, so it is all there.
    write_errors = reply["cursor"]["firstBatch"]
    concern_error = reply.get("writeConcernError")
    if write_errors or concern_error:
        raise ClientBulkWriteException({"writeErrors": write_errors,
                                        "writeConcernErrors": [concern_error] if concern_error else [],
                                        "nInserted": reply.get("nInserted", 0),
                                        "anySuccessful": bool(reply.get("nInserted"))}, verbose=False)


async def _insert_in_two(db: AsyncDatabase, writes: list[tuple[str, dict]]) -> None:
    await db.images.insert_many([document for collection, document in writes if collection == "images"])
    try:
        await db.annotations.insert_many([document for collection, document in writes if collection == "annotations"])
    except BaseException:
        await _remove(db, writes)
        raise


async def _remove(db: AsyncDatabase, writes: list[tuple[str, dict]]) -> None:
    for collection in ("images", "annotations"):
        ids = [document["_id"] for name, document in writes if name == collection]
        if ids:
            await db[collection].delete_many({"_id": {"$in": ids}})


async def get(db: AsyncDatabase, account_id: str, annotation_id: str) -> dict | None:
    return await db.annotations.find_one({"_id": annotation_id, "account": account_id})


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int,
                   reviewed: bool | None = None) -> tuple[list[dict], int]:
    query: dict[str, Any] = {"account": account_id}
    if reviewed is not None:
        query["reviewed"] = reviewed
    return await page(db.annotations, query, offset, limit)


async def set_review(db: AsyncDatabase, account_id: str, annotation_id: str, review: dict) -> dict | None:
    """Record `review` as the annotation's latest correction; None if this shop has no such annotation."""
    result = await db.annotations.update_one({"_id": annotation_id, "account": account_id},
                                             {"$set": {"review": review, "reviewed": True}})
    return review if result.matched_count else None


async def delete(db: AsyncDatabase, account_id: str, annotation_id: str) -> dict | None:
    """The deleted annotation (its image is the caller's to delete), or None."""
    return await db.annotations.find_one_and_delete({"_id": annotation_id, "account": account_id})


async def reviewed(db: AsyncDatabase, account_id: str) -> AsyncIterator[dict]:
    """Every reviewed annotation of a shop, oldest first (the export's order)."""
    cursor = db.annotations.find({"account": account_id, "reviewed": True}).sort([("created", ASCENDING), ("_id", ASCENDING)])
    async for annotation in cursor:
        yield annotation
