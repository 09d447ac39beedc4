"""Annotations: what the model said about one stored image of a shop, and the latest human correction."""
from __future__ import annotations

from typing import Any, AsyncIterator

from pymongo import ASCENDING, DESCENDING, InsertOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ClientBulkWriteException, InvalidOperation

from api.core.security import new_id
from api.data import accounts
from api.data.common import now, page
from api.domain.errors import AccountGone


QUEUE_RANKS = {"held": 0, "applied": 1}  # where the policy put a store product's annotation in the review queue


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.annotations.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.annotations.create_index([("account", ASCENDING), ("reviewed", ASCENDING)])
    await db.annotations.create_index([("account", ASCENDING), ("reviewed", ASCENDING), ("queue_rank", ASCENDING),
                                       ("created", DESCENDING)])
    # nx-27017 reads the whole collection for a query on a field no single-field index names, compound indexes
    # notwithstanding; with this one it answers the shop's lists from the compound indexes above (the review queue
    # 49 → 4.2 ms, the annotation list 36 → 2.1 ms at 20,000 over 5 shops, totals by common.count;
    # scripts/bench_lists.py).
    await db.annotations.create_index([("account", ASCENDING)])


def new_annotation(account_id: str, image: dict, source: dict[str, Any], crop: dict | None, result: dict,
                   policy: dict | None = None) -> dict:
    """`image` is the stored image's document; its id and size are copied so lists never load image bytes.
    `policy`: what a store's tagging policy did with it (api/integrations/policy.py), for the review queue."""
    meta = {"id": image["_id"], "width": image["width"], "height": image["height"]}
    document = {"_id": new_id(), "account": account_id, "image": meta, "source": source, "crop": crop,
                "category": result["category"], "groups": result.get("groups", []), "attributes": result["attributes"],
                "colours": result["colours"],
                "model": result["model"], "created": now(), "reviewed": False, "review": None}
    if result.get("shop"):  # the shop's own terms (api/domain/shop_models.py)
        document["shop"] = result["shop"]
    if policy is not None:  # held products first in the review queue, then the applied ones
        document |= {"policy": policy, "queue_rank": QUEUE_RANKS[policy["state"]]}
    return document


async def insert_with_images(db: AsyncDatabase, stored: list[tuple[dict, dict]]) -> None:
    """Each (annotation, image document) pair, image first, in one round trip: all of them or, after a failure
    (raised again), none, also when the shop's deletion began meanwhile (AccountGone); the images' files are the
    caller's (api/domain/annotations.py). One client-level bulkWrite
    (pymongo's `bulk_write`), ordered, saves a round trip per request (about 0.3 ms of this process's CPU on
    nx-27017); servers before MongoDB 8.0 have no bulkWrite, and get two inserts."""
    writes = as_writes(stored)
    if not writes:
        return
    try:
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
    if not await accounts.open_for_writes(db, stored[0][0]["account"]):  # deleted while the photos were read
        await _remove(db, writes)
        raise AccountGone()


def as_writes(stored: list[tuple[dict, dict]]) -> list[tuple[str, dict]]:
    """(collection, document) in the order they are written: each pair's image, then its annotation."""
    return [(collection, document) for annotation, image in stored
            for collection, document in (("images", image), ("annotations", annotation))]


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


async def review_queue(db: AsyncDatabase, account_id: str, offset: int, limit: int, state: str | None = None
                       ) -> tuple[list[dict], int]:
    """The shop's store products annotated and not yet reviewed: held ones first, then applied, newest first;
    `state` ("held" or "applied"): those alone."""
    rank = {"$exists": True} if state is None else QUEUE_RANKS[state]
    query = {"account": account_id, "reviewed": False, "queue_rank": rank}
    return await page(db.annotations, query, offset, limit,
                      order=[("queue_rank", ASCENDING), ("created", DESCENDING), ("_id", ASCENDING)])


async def leave_as_it_is(db: AsyncDatabase, account_id: str, annotation_id: str, why: str) -> bool:
    """The annotation out of the review queue unreviewed, saying why (a reviewer left the product as it is);
    False when it is not in the queue."""
    result = await db.annotations.update_one(
        {"_id": annotation_id, "account": account_id, "reviewed": False, "queue_rank": {"$exists": True}},
        {"$unset": {"queue_rank": ""}, "$set": {"left_queue": why}})
    return result.modified_count == 1


def _store_product(account_id: str, integration_id: str, product_id: int) -> dict:
    return {"account": account_id, "source.integration": integration_id, "source.product_id": str(product_id),
            "reviewed": False}


async def leave_queue(db: AsyncDatabase, account_id: str, integration_id: str, product_id: int, why: str,
                      keep: str | None = None) -> int:
    """The store product's unreviewed annotations out of the review queue (but `keep`), saying why: a reviewer's
    correction of an older annotation would overwrite what the product's new photos were given, and a product in
    the store's trash is nobody's work. How many left. (Called only for a product annotated before: the look-up
    reads the shop's annotations on nx-27017, which keeps no index of nested fields.)"""
    query = _store_product(account_id, integration_id, product_id) | {"queue_rank": {"$exists": True}}
    if keep is not None:
        query["_id"] = {"$ne": keep}
    result = await db.annotations.update_many(query, {"$unset": {"queue_rank": ""}, "$set": {"left_queue": why}})
    return result.modified_count


async def back_to_queue(db: AsyncDatabase, account_id: str, integration_id: str, product_id: int) -> bool:
    """The store product's newest unreviewed annotation back in the review queue (a product restored from the
    trash), where its policy put it; False when it has none, or it is in the queue already."""
    found = await db.annotations.find(_store_product(account_id, integration_id, product_id) | {
        "policy": {"$exists": True}}).sort([("created", DESCENDING), ("_id", DESCENDING)]).limit(1).to_list(1)
    if not found or "queue_rank" in found[0]:
        return False
    rank = QUEUE_RANKS[found[0]["policy"]["state"]]
    await db.annotations.update_one({"_id": found[0]["_id"], "account": account_id},
                                    {"$set": {"queue_rank": rank}, "$unset": {"left_queue": ""}})
    return True
