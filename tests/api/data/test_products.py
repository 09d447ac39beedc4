"""A shop's products beside another shop's (api/data/products.py), on the real nx-27017 with every index the data layer
creates: the list pages the shop's products newest first with its total, and the vectors of some products are
theirs alone (another shop's ids and unknown ones left out), with the fields the index builder reads."""
from __future__ import annotations

from datetime import timedelta

from api.data import products
from api.data.db import ensure_indexes
from tests.api.conftest import on_database


def _product(account: str, n: int) -> dict:
    product = products.new_product(account, {"title": f"shirt {n}", "sku": f"{account}-{n}"},
                                   [{"_id": f"img-{account}-{n}", "width": 1, "height": 1}],
                                   {"embeddings": [[float(n), 1.0]], "signals": [[0.5]], "embedder": "d"})
    return product | {"_id": f"{account}-{n:02}", "created": product["created"] + timedelta(seconds=n // 2)}


def test_a_shop_s_list_and_vectors_are_its_own(mongo_server, mongo_database):
    async def go(db):
        await ensure_indexes(db)
        await db.products.insert_many([_product(shop, n) for n in range(12) for shop in ("a", "b")])
        pages = [await products.list_for(db, "a", offset, 5) for offset in (0, 5, 10)]
        asked = ["a-03", "b-03", "a-07", "nowhere"]
        return pages, await products.vectors(db, "a", asked), await products.vectors(db, "a")

    pages, some, every = on_database(mongo_server, mongo_database, go)
    assert [doc["_id"] for found, _ in pages for doc in found] == [f"a-{n:02}" for n in range(11, -1, -1)]
    assert {total for _, total in pages} == {12}
    assert all("embeddings" not in doc and "signals" not in doc for found, _ in pages for doc in found)
    assert sorted(some, key=lambda p: p["_id"]) == [
        {"_id": f"a-{n:02}", "images": [{"id": f"img-a-{n}", "width": 1, "height": 1}], "embeddings": [[float(n), 1.0]]}
        for n in (3, 7)]
    assert sorted(p["_id"] for p in every) == [f"a-{n:02}" for n in range(12)]
