"""A store product's catalogue entry is found by its top-level key (api/data/products.py `store_key`), on the real
nx-27017: entries stored before the key was kept (with `source`, or only the origin in `metadata`) get theirs at
start-up, once per database (api/data/common.py `once`), and a store product without an entry is none, in another
shop or integration too. A store product has one entry: the key is unique, made so at start-up, or once the entries
made twice in an older database are merged; likewise a shop's store has one integration."""
from __future__ import annotations

import datetime as dt

from pymongo import ASCENDING

from api.data import integrations, products
from api.domain.errors import DomainError
from tests.api.conftest import on_database


def _entry(account: str, n: int, **fields) -> dict:
    return products.new_product(account, {"title": f"store product {n}", **fields},
                                [{"_id": f"img-{account}-{n}", "width": 1, "height": 1}],
                                {"embeddings": [[1.0, 0.0]], "embedder": "d"})


def test_entries_are_found_by_their_store_key_old_ones_included(mongo_server, mongo_database):
    async def go(db):
        await db.products.insert_many([
            _entry("shop", 1, source={"integration": "I", "product_id": 1},
                   store_key=products.store_key("I", 1)),  # as stored now
            _entry("shop", 2, source={"integration": "I", "product_id": 2}),  # before the key
            _entry("shop", 3, metadata={"source": "woocommerce", "integration": "I", "store_product_id": "3"}),
            _entry("other-shop", 4, source={"integration": "J", "product_id": 4}),
        ])
        await products.ensure_indexes(db)
        found = {n: await integrations.catalogue_product(db, "shop", "I", n) for n in (1, 2, 3, 4, 5)}
        elsewhere = [await integrations.catalogue_product(db, "shop", "J", 4),
                     await integrations.catalogue_product(db, "other-shop", "I", 1)]
        legacy = await db.products.find_one({"title": "store product 3"})
        # The backfill ran once for this database: a later start reads no products for it.
        await db.products.insert_one(_entry("shop", 6, source={"integration": "I", "product_id": 6}))
        await products.ensure_indexes(db)
        later = await db.products.find_one({"title": "store product 6"})
        recorded = await db.migrations.find_one({"_id": "products.store_key"})
        return found, elsewhere, legacy, (later.get("store_key"), recorded is not None)

    found, elsewhere, legacy, (later_key, recorded) = on_database(mongo_server, mongo_database, go)
    assert {n: doc["title"] if doc else None for n, doc in found.items()} == {
        1: "store product 1", 2: "store product 2", 3: "store product 3", 4: None, 5: None}
    assert elsewhere == [None, None]
    assert legacy["source"] == {"integration": "I", "product_id": 3} and legacy["store_key"] == "I:3"
    assert "embeddings" not in found[1]
    assert later_key is None and recorded


def test_the_service_s_record_of_its_writes_is_kept_by_store_product_old_records_included(mongo_server, mongo_database):
    async def go(db):
        await integrations.ensure_indexes(db)
        # A record made before they were kept under "<integration>:<product id>": an id of its own.
        await db.store_writes.insert_one({"integration": "I", "product_id": 1, "state": "written", "images": "old"})
        await integrations.record_write(db, "I", 1, {"images": "new"}, "writing")
        await integrations.record_write(db, "I", 2, {"images": "first"}, "writing")
        await integrations.record_write(db, "I", 2, {"images": "first"}, "written")
        await integrations.record_write(db, "J", 2, {"images": "another store"}, "written")
        read = {(i, p): await integrations.our_write(db, i, p) for i, p in (("I", 1), ("I", 2), ("J", 2), ("J", 1))}
        return read, await db.store_writes.count_documents({})

    read, count = on_database(mongo_server, mongo_database, go)
    assert count == 3  # each store product's one record, the old one updated in place
    assert (read["I", 1]["images"], read["I", 1]["state"]) == ("new", "writing")
    assert (read["I", 2]["_id"], read["I", 2]["images"], read["I", 2]["state"]) == ("I:2", "first", "written")
    assert (read["J", 2]["images"], read["J", 1]) == ("another store", None)


def test_a_store_product_has_one_entry_and_a_shop_s_own_products_any_number_without(mongo_server, mongo_database):
    async def go(db):
        await products.ensure_indexes(db)
        await products.insert(db, _entry("shop", 1, store_key="I:1"))
        refusals = []
        for second in (_entry("shop", 2, store_key="I:1"),  # another maker of store product 1's entry
                       _entry("shop", 3, sku="SKU-1"), _entry("shop", 4, sku="SKU-1")):
            try:
                await products.insert(db, second)
            except DomainError as error:
                refusals.append(error.code)
        for n in (5, 6):  # a shop's own products: no store key
            await products.insert(db, _entry("shop", n))
        return refusals, await db.products.count_documents({}), await products.unique_store_keys(db)

    refusals, stored, unique = on_database(mongo_server, mongo_database, go)
    assert refusals == ["store_entry_taken", "sku_taken"]
    assert stored == 4 and unique


def test_a_database_with_entries_made_twice_keeps_a_plain_key_until_they_are_merged(mongo_server, mongo_database):
    """A database from before the key was unique: its plain index goes, and while a store product has two entries
    the unique one cannot be made, so the plain one is kept (lookups stay fast); the entries made twice are listed,
    the newest of each product kept; once they are gone the key is made unique."""
    async def go(db):
        await db.products.create_index([("store_key", ASCENDING)])  # as stored before
        older, newer = _entry("shop", 1, store_key="I:1"), _entry("shop", 2, store_key="I:1")
        newer["updated"] = older["updated"] + dt.timedelta(seconds=1)
        await db.products.insert_many([newer, older, _entry("other", 3, store_key="J:3"), _entry("shop", 4)])
        await products.ensure_indexes(db)
        before = (await products.unique_store_keys(db), await products.store_duplicates(db),
                  await integrations.catalogue_product(db, "shop", "I", 1) is not None)
        await db.products.delete_one({"_id": older["_id"]})
        after = (await products.unique_store_keys(db), await products.store_duplicates(db))
        keys = [index["key"] for index in (await db.products.index_information()).values()
                if [field for field, _ in index["key"]] == ["store_key"]]
        return older["_id"], before, after, keys

    older, before, after, keys = on_database(mongo_server, mongo_database, go)
    assert before == (False, [("shop", older)], True)
    assert after == (True, [])
    assert len(keys) == 1  # the unique one in place of the plain one


def test_a_shop_connected_to_a_store_twice_before_keeps_both_until_one_goes(mongo_server, mongo_database):
    """A database where a shop's store was connected twice (two connects at once, before a shop's stores were
    unique): start-up keeps a plain index and both integrations; once the shop disconnects one, the next start makes
    the key unique, and a third connect of that store is refused (None: the route answers 409)."""
    async def go(db):
        await db.integrations.insert_many([{"_id": n, "account": "shop", "store_url": "https://s.example"}
                                           for n in ("first", "second")])
        await integrations.ensure_indexes(db)
        kept = await db.integrations.count_documents({})
        again_before = await integrations.create(db, "shop", {"store_url": "https://s.example"})
        await integrations.delete(db, "shop", "second")
        await db.integrations.delete_one({"_id": again_before["_id"]})
        await integrations.ensure_indexes(db)
        refused = await integrations.create(db, "shop", {"store_url": "https://s.example"})
        another_shop = await integrations.create(db, "other", {"store_url": "https://s.example"})
        return kept, again_before is not None, refused, another_shop is not None

    kept, made_before, refused, another_shop = on_database(mongo_server, mongo_database, go)
    assert kept == 2 and made_before  # nothing refused while the index could not be unique
    assert refused is None and another_shop
