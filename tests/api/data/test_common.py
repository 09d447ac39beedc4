"""Paging, counting and inserting (api/data/common.py) on the real nx-27017: `count` answers what pymongo's
`count_documents` answers, pages walk a shop's documents in the asked order, without overlap, never another shop's,
and an insert whose answer is nx-27017's "Failed to get last row id." puts its document in once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, WriteError

from api.data import annotations, integrations, jobs
from api.data.common import INSERT_TRIES, NEWEST_FIRST, UNKNOWN_ERROR, count, insert_once, now, page
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


class LostAnswers:
    """A collection of the real database whose first `faults` inserts answer nx-27017's WriteError code 8, as
    neosqlite 1.17.2 does under load (docs/api.md): after writing the document (`written`), or before."""

    def __init__(self, collection, faults: int, written: bool):
        self.collection, self.faults, self.written, self.inserts = collection, faults, written, 0

    async def insert_one(self, document):
        self.inserts += 1
        if self.inserts > self.faults:
            return await self.collection.insert_one(document)
        if self.written:
            await self.collection.insert_one(document)
        raise WriteError("Failed to get last row id.", UNKNOWN_ERROR, {"code": UNKNOWN_ERROR,
                                                                         "errmsg": "Failed to get last row id."})

    def __getattr__(self, name):
        return getattr(self.collection, name)


class LosingDatabase:
    """The real database, with one collection's inserts as `LostAnswers`."""

    def __init__(self, db, name: str, faults: int = 1, written: bool = True):
        self.db, self.name, self.faulty = db, name, LostAnswers(db[name], faults, written)

    def __getattr__(self, name):
        return self.faulty if name == self.name else getattr(self.db, name)


@pytest.mark.parametrize("written", [True, False], ids=["written before the error", "lost before writing"])
def test_an_insert_answered_failed_to_get_last_row_id_puts_its_document_in_once(mongo_server, mongo_database,
                                                                                 written):
    async def go(db):
        await db.things.create_index([("key", ASCENDING)], unique=True)
        flaky = LostAnswers(db.things, faults=2, written=written)
        await insert_once(flaky, {"_id": "t1", "key": "k"})
        with pytest.raises(DuplicateKeyError):  # another document's key: refused as ever
            await insert_once(flaky, {"_id": "t2", "key": "k"})
        return flaky.inserts, await db.things.find().to_list(length=None)

    inserts, stored = on_database(mongo_server, mongo_database, go)
    assert stored == [{"_id": "t1", "key": "k"}]
    # Written: one insert put it in, the look-up found it; lost: two faults, the third went in. Then t2's one try.
    assert inserts == (1 if written else 3) + 1


def test_an_insert_fails_on_other_write_errors_and_after_its_tries(mongo_server, mongo_database):
    async def go(db):
        always = LostAnswers(db.things, faults=INSERT_TRIES, written=False)
        with pytest.raises(WriteError) as lost:
            await insert_once(always, {"_id": "t1"})
        await db.things.insert_one({"_id": "t2"})
        with pytest.raises(DuplicateKeyError):  # the same _id on the first try is another document's
            await insert_once(db.things, {"_id": "t2", "other": True})
        return always.inserts, lost.value.code, await db.things.count_documents({})

    assert on_database(mongo_server, mongo_database, go) == (INSERT_TRIES, UNKNOWN_ERROR, 1)


def test_a_delivery_and_its_job_are_recorded_once_though_their_inserts_answer_an_error(mongo_server,
                                                                                       mongo_database):
    """The fault the 10.8 store's burst met in the delivery route (two deliveries answered 500 in 6,000): the
    delivery is recorded and its job queued, each once, and the same delivery again is still a duplicate."""
    async def go(db):
        await integrations.ensure_indexes(db)
        await jobs.ensure_indexes(db)
        record_id = await integrations.record_delivery(LosingDatabase(db, "webhook_deliveries"), "integ", "d1:ab",
                                                       {"topic": "product.created"})
        again = await integrations.record_delivery(db, "integ", "d1:ab", {"topic": "product.created"})
        job, created = await jobs.enqueue(LosingDatabase(db, "jobs"), "acct", "integ", 7, "product.created")
        return (record_id, again, created, job["_id"], await db.webhook_deliveries.count_documents({}),
                [doc["_id"] for doc in await db.jobs.find().to_list(length=None)],
                [step["step"] for step in await db.job_steps.find({"job": job["_id"]}).to_list(length=None)])

    record_id, again, created, job_id, deliveries, queued, steps = on_database(mongo_server, mongo_database, go)
    assert record_id is not None and again is None and deliveries == 1
    assert created and queued == [job_id] and steps == ["queued"]
