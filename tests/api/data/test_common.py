"""Paging and counting (api/data/common.py) on the real nx-27017: `count` answers what pymongo's `count_documents`
answers, and pages walk a shop's documents in the asked order, without overlap, never another shop's."""
from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, DESCENDING

from api.data import annotations
from api.data.common import NEWEST_FIRST, count, now, page
from tests.api.conftest import on_database

QUEUE_ORDER = [("queue_rank", ASCENDING), ("created", DESCENDING), ("_id", ASCENDING)]


def _annotations() -> list[dict]:
    """Two shops' annotations interleaved, some with equal times (ties broken by id), some outside the queue."""
    start = now()
    return [{"_id": f"{shop}-{n:02}", "account": shop, "created": start + timedelta(seconds=n // 3),
             "reviewed": n % 4 == 0, **({"queue_rank": n % 2} if n % 5 else {})}
            for n in range(20) for shop in ("a", "b")]


def test_count_answers_what_count_documents_answers(mongo_server, mongo_database):
    queries = [{"account": "a"}, {"account": "b", "reviewed": False}, {"account": "a", "queue_rank": {"$exists": True}},
               {"account": "a", "reviewed": False, "queue_rank": {"$exists": True}}, {"account": "c"}, {},
               {"account": "a", "queue_rank": {"$nin": [0]}}]  # missing ones included, as in products' made_by_others

    async def go(db):
        await annotations.ensure_indexes(db)
        await db.annotations.insert_many(_annotations())
        return ([await count(db.annotations, q) for q in queries],
                [await db.annotations.count_documents(q) for q in queries])

    ours, pymongos = on_database(mongo_server, mongo_database, go)
    assert ours == pymongos
    assert ours[0] == 20 and ours[4] == 0 and ours[5] == 40


def test_pages_walk_one_shop_in_order_without_overlap(mongo_server, mongo_database):
    async def go(db):
        await annotations.ensure_indexes(db)
        await db.annotations.insert_many(_annotations())
        walked = {}
        for name, query, order in (("newest", {"account": "a"}, NEWEST_FIRST),
                                   ("queue", {"account": "a", "reviewed": False, "queue_rank": {"$exists": True}},
                                    QUEUE_ORDER)):
            pages = [await page(db.annotations, query, offset, 3, order=order) for offset in range(0, 21, 3)]
            whole = await db.annotations.find(query).to_list(length=None)
            walked[name] = ([doc["_id"] for found, _ in pages for doc in found], {total for _, total in pages},
                            whole)
        return walked

    walked = on_database(mongo_server, mongo_database, go)
    for name, key in (("newest", lambda d: (-d["created"].timestamp(), [-ord(c) for c in d["_id"]])),
                      ("queue", lambda d: (d["queue_rank"], -d["created"].timestamp(), d["_id"]))):
        ids, totals, whole = walked[name]
        assert ids == [d["_id"] for d in sorted(whole, key=key)], name
        assert len(set(ids)) == len(ids) and totals == {len(whole)}, name
        assert all(i.startswith("a-") for i in ids), name
