"""Shops' model versions (api/data/shop_models.py) on the real nx-27017: arrays larger than a document may be are
stored and read back whole, old versions go with their arrays, a version stored before GridFS is still read, and a
shop leaving takes its own models and no other shop's."""
from __future__ import annotations

import numpy as np

from api.data import shop_models
from api.data.db import ensure_indexes
from tests.api.conftest import on_database

DOCUMENT_LIMIT = 16 * 2**20


def _arrays(megabytes: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Random bytes (they do not compress) as a model's arrays."""
    rng = np.random.default_rng(seed)
    return {"memory": rng.integers(0, 256, int(megabytes * 2**20), dtype=np.uint8), "bias": np.arange(3.0)}


async def _files(db) -> dict[str, str]:
    """GridFS files of the bucket: id -> the account in their metadata (nx-27017 answers an id of 24 hex digits as an
    ObjectId)."""
    return {str(f["_id"]): f["metadata"]["account"] async for f in db[f"{shop_models.BUCKET}.files"].find({})}


def test_arrays_larger_than_a_document_are_stored_and_read_back_whole(mongo_server, mongo_database):
    big = _arrays(17)  # a 12,000-product shop's vote memory is about this size
    assert len(shop_models.pack(big)) > DOCUMENT_LIMIT

    async def go(db):
        await ensure_indexes(db)
        stored = await shop_models.insert_version(db, "shop-a", {"categories": ["K"]}, big, {"products": 12_000})
        return stored, await shop_models.latest(db, "shop-a", with_arrays=True), await shop_models.latest(db, "shop-a"), \
            await _files(db)

    stored, read, listed, files = on_database(mongo_server, mongo_database, go)
    assert stored["version"] == 1 and "arrays" not in stored and "arrays" not in listed
    assert files == {stored["_id"]: "shop-a"}
    again = shop_models.unpack(read["arrays"])
    assert set(again) == set(big) and all(np.array_equal(again[k], big[k]) for k in big)


def test_old_versions_go_with_their_arrays_and_a_version_stored_in_its_document_is_still_read(mongo_server,
                                                                                            mongo_database):
    async def go(db):
        await ensure_indexes(db)
        legacy = _arrays(0.01, seed=9)
        await db.shop_models.insert_one({"_id": "legacy", "account": "shop-a", "version": 1, "report": {},
                                         "arrays": shop_models.pack(legacy)})  # as stored before 2026-12-07
        from_document = await shop_models.latest(db, "shop-a", with_arrays=True)
        for n in range(shop_models.KEEP_VERSIONS + 2):
            await shop_models.insert_version(db, "shop-a", {}, _arrays(0.01, seed=n), {})
        await shop_models.insert_version(db, "shop-b", {}, _arrays(0.01), {})
        kept = [d["version"] async for d in db.shop_models.find({"account": "shop-a"}, {"version": 1})]
        files_kept = await _files(db)
        removed = await shop_models.remove_shop(db, "shop-a")
        return legacy, from_document, kept, files_kept, removed, await _files(db), \
            await db.shop_models.count_documents({"account": "shop-a"}), await shop_models.latest(db, "shop-b")

    legacy, from_document, kept, files_kept, removed, files_left, left, other = on_database(mongo_server, mongo_database, go)
    assert np.array_equal(shop_models.unpack(from_document["arrays"])["memory"], legacy["memory"])
    newest = shop_models.KEEP_VERSIONS + 3
    assert sorted(kept) == list(range(newest - shop_models.KEEP_VERSIONS + 1, newest + 1))
    assert sorted(files_kept.values()) == ["shop-a"] * shop_models.KEEP_VERSIONS + ["shop-b"]
    assert removed == shop_models.KEEP_VERSIONS and left == 0
    assert list(files_left.values()) == ["shop-b"] and other["version"] == 1
