"""A shop's Idempotency-Keys: what a create sent with one answered, so that the same request sent again is answered
the same without being done twice (api/idempotency.py).

`idempotency_keys` {_id, slot: "<shop>:<key>" (unique), account, key, fingerprint, state: running | done, started,
alive, expires (epoch seconds), status?, body?, headers?}. The request holding a claim says it is alive now and then
(`renew`); a claim `running` that has not said so for longer than the lease is one whose process died: the next
request with its key makes a new one in its place. A request that runs longer than the lease keeps its key. An
expired record counts as none; the worker's daily housekeeping deletes them (`prune`).

Why not a TTL index, nor one on (account, key): nx-27017 (neosqlite 1.17.2) deletes expired documents on every
read and update of a collection with a TTL index, two whole-collection deletes each time: a look-up among 2,000 keys
took 5.2 ms against 1.0 without one, 16 ms among 10,000 (a throwaway script); and it reads a compound index whole
(api/data/changes.py). One string field with an index of its own is looked up through it.
"""
from __future__ import annotations

import time

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import insert_once


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.idempotency_keys.create_index("slot", unique=True)
    await db.idempotency_keys.create_index("expires")


def _slot(account_id: str, key: str) -> str:
    return f"{account_id}:{key}"  # an account id is 24 hex characters: no two (shop, key) pairs give one slot


async def claim(db: AsyncDatabase, account_id: str, key: str, fingerprint: str, lease_s: float,
                keep_s: float) -> tuple[dict, bool]:
    """(the key's record, whether this request now holds it). Held: a new record `running`, made in place of none, of
    one that expired, or of one whose holder died (running past `lease_s`). Not held: the record another request
    made, running or done, for the caller to compare with what it was sent."""
    for _ in range(3):  # another request's record deleted, or made, between our insert and our read: again
        started = time.time()
        record = {"_id": new_id(), "slot": _slot(account_id, key), "account": account_id, "key": key,
                  "fingerprint": fingerprint, "state": "running", "started": started, "alive": started,
                  "expires": started + keep_s}
        try:
            await insert_once(db.idempotency_keys, record)
            return record, True
        except DuplicateKeyError:
            pass
        found = await db.idempotency_keys.find_one({"slot": record["slot"]})
        if found is not None and not _abandoned(found, lease_s):
            return found, False
        if found is not None:  # deleted only as read: of two requests finding it abandoned, one makes the next
            await db.idempotency_keys.delete_one({"_id": found["_id"], "state": found["state"],
                                                  "started": found["started"]})
    raise RuntimeError(f"the Idempotency-Key record {key!r} kept changing while it was claimed")


def _abandoned(record: dict, lease_s: float) -> bool:
    moment = time.time()
    alive = record.get("alive", record["started"])  # a record made before `alive` was kept: when it began
    return record["expires"] <= moment or (record["state"] == "running" and alive < moment - lease_s)


async def renew(db: AsyncDatabase, record_id: str) -> None:
    """The held key's request is still being answered: its claim is not taken over for another lease."""
    await db.idempotency_keys.update_one({"_id": record_id, "state": "running"}, {"$set": {"alive": time.time()}})


async def finish(db: AsyncDatabase, record_id: str, status: int, body: bytes, headers: dict[str, str]) -> None:
    """Keep the answer a held key's request got, for the same request sent again."""
    await db.idempotency_keys.update_one({"_id": record_id, "state": "running"},
                                         {"$set": {"state": "done", "status": status, "body": body, "headers": headers}})


async def release(db: AsyncDatabase, record_id: str) -> None:
    """Give the key up: its request failed, and the same request may be sent again to be done."""
    await db.idempotency_keys.delete_one({"_id": record_id, "state": "running"})


async def prune(db: AsyncDatabase) -> int:
    """Delete the records whose time is over; how many."""
    return (await db.idempotency_keys.delete_many({"expires": {"$lt": time.time()}})).deleted_count
