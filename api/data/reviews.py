"""Reviews: every correction a person made to an annotation, kept as history (who, when, what)."""
from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.core.security import new_id
from api.data.common import insert_once, now, page


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.reviews.create_index([("account", ASCENDING), ("created", DESCENDING)])
    await db.reviews.create_index([("account", ASCENDING), ("annotation_id", ASCENDING)])
    # nx-27017 reads the whole collection for a query on a field no single-field index names; with this one it uses
    # the two above (a shop's reviews 26 → 1.8 ms at 20,000 over 5 shops; scripts/bench_lists.py).
    await db.reviews.create_index([("account", ASCENDING)])


def new_review(account_id: str, annotation_id: str, correction: dict[str, Any], reviewer: str) -> dict:
    return {"_id": new_id(), "account": account_id, "annotation_id": annotation_id, **correction,
            "reviewer": reviewer, "created": now()}


async def insert(db: AsyncDatabase, review: dict) -> None:
    await insert_once(db.reviews, review)


async def get(db: AsyncDatabase, account_id: str, review_id: str) -> dict | None:
    return await db.reviews.find_one({"_id": review_id, "account": account_id})


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int,
                   annotation_id: str | None = None) -> tuple[list[dict], int]:
    query: dict[str, Any] = {"account": account_id}
    if annotation_id is not None:
        query["annotation_id"] = annotation_id
    return await page(db.reviews, query, offset, limit)


async def delete_for_annotation(db: AsyncDatabase, account_id: str, annotation_id: str) -> int:
    return (await db.reviews.delete_many({"account": account_id, "annotation_id": annotation_id})).deleted_count


async def annotations_reviewed_since(db: AsyncDatabase, account_id: str, since: Any) -> list[str]:
    """The ids of the shop's annotations reviewed at or after `since` (a datetime), each once."""
    found = [review["annotation_id"] async for review in db.reviews.find({"account": account_id},
                                                                        {"annotation_id": 1, "created": 1})
             if review["created"] >= since]
    return list(dict.fromkeys(found))
