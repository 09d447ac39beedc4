"""Console sessions: the token's hash, its account and its expiry."""
from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.data.common import now


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.sessions.create_index([("account", ASCENDING)])
    await db.sessions.create_index([("expires", ASCENDING)])


async def create(db: AsyncDatabase, account_id: str, token_hash: str, ttl_s: int) -> dict:
    moment = now()
    session = {"_id": token_hash, "account": account_id, "created": moment, "expires": moment + timedelta(seconds=ttl_s)}
    await db.sessions.insert_one(session)
    return session


async def account_for(db: AsyncDatabase, token_hash: str) -> str | None:
    """The account id of a live session; expired sessions are deleted when met."""
    session = await db.sessions.find_one({"_id": token_hash})
    if session is None:
        return None
    if session["expires"] <= now():
        await db.sessions.delete_one({"_id": token_hash})
        return None
    return session["account"]


async def prune(db: AsyncDatabase) -> int:
    """Delete the sessions that have expired (a session is otherwise deleted only when its token comes back, and
    most never do); how many. Compared here, not in the query: nx-27017 compares a stored date with a queried one
    as text (api/data/common.py `count`)."""
    moment = now()
    ended = [s["_id"] async for s in db.sessions.find({}, {"expires": 1}) if s["expires"] <= moment]
    for start in range(0, len(ended), 1000):
        await db.sessions.delete_many({"_id": {"$in": ended[start:start + 1000]}})
    return len(ended)


async def delete(db: AsyncDatabase, token_hash: str) -> bool:
    return (await db.sessions.delete_one({"_id": token_hash})).deleted_count == 1
