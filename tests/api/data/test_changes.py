"""Each shop's change sequence (api/data/changes.py) on the real nx-27017: a replica reads its shop's entries after
its number, in order, never another shop's, entries logged before they had a `key` included (given theirs once);
a database from before `prune` loses its TTL index and its entries get the time `prune` reads."""
from __future__ import annotations

import time

from api.data import changes
from tests.api.conftest import on_database


def test_a_shop_reads_its_own_entries_after_its_number_old_ones_included(mongo_server, mongo_database):
    async def go(db):
        # Logged before entries had a key: shop "a" numbers 1-3, shop "a1" (a prefix of it) 1-2.
        await db.catalogue_changes.insert_many(
            [{"account": "a", "seq": n, "product": f"a-p{n}", "at": changes.now()} for n in (1, 2, 3)]
            + [{"account": "a1", "seq": n, "product": f"a1-p{n}", "at": changes.now()} for n in (1, 2)])
        await db.catalogue_seq.insert_many([{"_id": "a", "seq": 3}, {"_id": "a1", "seq": 2}])
        await changes.ensure_indexes(db)
        for n in range(4, 13):  # numbers 4..12: past 9 and 10, where unpadded strings would sort wrong
            await changes.record(db, "a", [f"a-p{n}"])
        await changes.record(db, "a1", ["a1-p3"])
        return ([e["product"] for e in await changes.since(db, "a", 2, 100)],
                [e["seq"] for e in await changes.since(db, "a", 9, 2)],
                [e["product"] for e in await changes.since(db, "a1", 0, 100)],
                await changes.since(db, "b", 0, 100))

    a_after_2, a_after_9_two, a1_all, b_all = on_database(mongo_server, mongo_database, go)
    assert a_after_2 == [f"a-p{n}" for n in range(3, 13)]
    assert a_after_9_two == [10, 11]
    assert a1_all == ["a1-p1", "a1-p2", "a1-p3"]
    assert b_all == []


def test_an_old_databases_ttl_index_goes_and_its_entries_get_their_times(mongo_server, mongo_database):
    async def go(db):
        logged = changes.now()
        await db.catalogue_changes.insert_one({"account": "a", "seq": 1, "key": changes.key("a", 1), "product": "p1",
                                               "at": logged})
        await db.catalogue_seq.insert_one({"_id": "a", "seq": 1})
        await db.catalogue_changes.create_index("at", expireAfterSeconds=changes.KEEP_DAYS * 86_400)
        await changes.ensure_indexes(db)
        await changes.record(db, "a", ["p2"])
        indexes = await db.catalogue_changes.index_information()
        entries = await db.catalogue_changes.find({}, {"_id": 0, "product": 1, "at_s": 1}).sort("seq").to_list(None)
        return logged, indexes, entries, await changes.prune(db)

    logged, indexes, entries, pruned = on_database(mongo_server, mongo_database, go)
    assert not [name for name, index in indexes.items() if "expireAfterSeconds" in index]
    assert [e["product"] for e in entries] == ["p1", "p2"] and entries[0]["at_s"] == logged.timestamp()
    assert abs(entries[1]["at_s"] - time.time()) < 60 and pruned == 0  # both within the week: kept
