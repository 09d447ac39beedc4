"""Stored images: each one a single MongoDB document holding the bytes.

Why documents and not GridFS or files under var/: one insert is atomic (an upload is stored whole or not at
all, never as orphaned chunks), it is one round trip (GridFS took ~5 ms per put on nx-27017, a document ~0.6 ms),
and the images live, back up and replicate with the rest of the shop's data on any MongoDB. The cost is
MongoDB's 16 MiB document cap, which is why Settings caps uploads at 15 MiB.
"""
from __future__ import annotations

from bson import Binary
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.core.security import new_id
from api.data.common import now


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.images.create_index([("account", ASCENDING)])


def new_image(account_id: str, data: bytes, content_type: str, width: int, height: int) -> dict:
    """The document for an image, with its id, not yet stored (so a caller can insert it beside other writes)."""
    return {"_id": new_id(), "account": account_id, "data": Binary(data), "content_type": content_type,
            "size": len(data), "width": width, "height": height, "created": now()}


async def insert_many(db: AsyncDatabase, images: list[dict]) -> None:
    if images:
        await db.images.insert_many(images)


async def get(db: AsyncDatabase, account_id: str, image_id: str) -> dict | None:
    return await db.images.find_one({"_id": image_id, "account": account_id})


async def get_signed(db: AsyncDatabase, image_id: str) -> dict | None:
    """An image by id alone: only for URLs whose signature the route has already checked."""
    return await db.images.find_one({"_id": image_id})


async def get_many(db: AsyncDatabase, account_id: str, image_ids: list[str]) -> dict[str, dict]:
    found = db.images.find({"_id": {"$in": image_ids}, "account": account_id})
    return {image["_id"]: image async for image in found}


async def delete(db: AsyncDatabase, account_id: str, image_ids: list[str]) -> int:
    if not image_ids:
        return 0
    return (await db.images.delete_many({"_id": {"$in": image_ids}, "account": account_id})).deleted_count
