"""A shop's Idempotency-Keys (api/data/idempotency.py) on the real nx-27017: one holder per key however many ask at
once, the kept answer found again, a key given up or past its time free again, one left by a dead process taken."""
from __future__ import annotations

import asyncio

from api.data import idempotency
from tests.api.conftest import on_database

SHOP, OTHER = "a" * 24, "b" * 24
LEASE_S, KEEP_S = 300.0, 3600.0


def test_one_request_holds_a_key_and_its_answer_is_found_again(mongo_server, mongo_database):
    async def go(db):
        await idempotency.ensure_indexes(db)
        claims = await asyncio.gather(*(idempotency.claim(db, SHOP, "k", "same", LEASE_S, KEEP_S) for _ in range(6)))
        holders = [record for record, held in claims if held]
        waiting = [record for record, held in claims if not held]
        [holder] = holders
        assert len(waiting) == 5 and all(r["_id"] == holder["_id"] and r["state"] == "running" for r in waiting)
        await idempotency.finish(db, holder["_id"], 201, b'{"id": "p1"}', {"content-type": "application/json"})
        found, held = await idempotency.claim(db, SHOP, "k", "same", LEASE_S, KEEP_S)
        other_shop, other_held = await idempotency.claim(db, OTHER, "k", "same", LEASE_S, KEEP_S)
        return found, held, other_shop, other_held, holder

    found, held, other_shop, other_held, holder = on_database(mongo_server, mongo_database, go)
    assert not held and (found["state"], found["status"], found["body"]) == ("done", 201, b'{"id": "p1"}')
    assert found["headers"] == {"content-type": "application/json"}
    assert other_held and other_shop["_id"] != holder["_id"]  # the same key of another shop is its own


def test_a_key_given_up_or_past_its_time_or_left_by_a_dead_process_is_free_again(mongo_server, mongo_database):
    async def go(db):
        await idempotency.ensure_indexes(db)
        first, _ = await idempotency.claim(db, SHOP, "failed", "f", LEASE_S, KEEP_S)
        await idempotency.release(db, first["_id"])
        after_release = await idempotency.claim(db, SHOP, "failed", "f", LEASE_S, KEEP_S)

        spent, _ = await idempotency.claim(db, SHOP, "spent", "f", LEASE_S, keep_s=-1.0)
        await idempotency.finish(db, spent["_id"], 201, b"{}", {})
        after_expiry = await idempotency.claim(db, SHOP, "spent", "f", LEASE_S, KEEP_S)

        await idempotency.claim(db, SHOP, "orphan", "f", LEASE_S, KEEP_S)
        still_running = await idempotency.claim(db, SHOP, "orphan", "f", LEASE_S, KEEP_S)
        after_lease = await idempotency.claim(db, SHOP, "orphan", "f", lease_s=-1.0, keep_s=KEEP_S)
        kept = await db.idempotency_keys.count_documents({})
        return after_release, spent, after_expiry, still_running, after_lease, kept

    after_release, spent, after_expiry, still_running, after_lease, kept = on_database(mongo_server, mongo_database, go)
    assert after_release[1] and after_release[0]["state"] == "running"
    assert after_expiry[1] and after_expiry[0]["_id"] != spent["_id"]
    assert not still_running[1] and after_lease[1] and after_lease[0]["_id"] != still_running[0]["_id"]
    assert kept == 3  # one record a key: each taken-over one deleted
