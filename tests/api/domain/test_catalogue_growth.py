"""A shop's index follows its size (api/domain/catalogue.py `Catalogues`, index/kinds.py `outgrown`): a catalogue that
grows a product at a time past the exact kind's limit is built again as an IVF index from the database while the old
one answers, and nothing added meanwhile is lost; a large copy is saved at most every SAVE_EVERY_S, and at shutdown.
Real nx-27017, real FAISS; the limits are lowered so that a few hundred vectors stand for 50,000."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import numpy as np
import pytest

from api.data import products
from api.data.db import open_client
from api.domain import catalogue
from api.domain.catalogue import Catalogues
from index import CatalogueStore, kinds

SHOP = "growing-shop"
DIM = 32


def test_kinds_outgrown_names_what_the_size_calls_for():
    assert kinds.outgrown("flat", None, kinds.EXACT_LIMIT - 1) is None
    assert "ivf index" in kinds.outgrown("flat", None, kinds.EXACT_LIMIT)
    assert "pq index" in kinds.outgrown("ivf", kinds.ivf_lists(kinds.EXACT_LIMIT), kinds.COMPRESS_FROM)
    assert kinds.outgrown("ivf", kinds.ivf_lists(kinds.EXACT_LIMIT), 3 * kinds.EXACT_LIMIT) is None
    assert "lists" in kinds.outgrown("ivf", kinds.ivf_lists(kinds.EXACT_LIMIT), 6 * kinds.EXACT_LIMIT)
    assert kinds.outgrown("ivf", 256, 1_000) is None  # a shrinking shop keeps its kind
    live = kinds.COMPRESS_FROM
    assert kinds.outgrown("pq", kinds.ivf_lists(live), live, rows_on_disk=2 * live) is None
    assert "removed" in kinds.outgrown("pq", kinds.ivf_lists(live), live, rows_on_disk=2 * live + 1)


class Shop:
    """One shop's products in the real database and a process's Catalogues over its own index directory."""

    def __init__(self, db, catalogues: Catalogues, rng: np.random.Generator) -> None:
        self.db, self.catalogues, self.rng, self.added = db, catalogues, rng, []

    async def add(self, n: int) -> None:
        batch = _products(self.rng, n)
        await self.db.products.insert_many(batch)
        await self.catalogues.upsert_many(self.db, SHOP, batch)
        self.added.extend(batch)


@asynccontextmanager
async def opened(mongo_server, database: str, indexes: Path, seed: int) -> AsyncIterator[Shop]:
    client = open_client(mongo_server.uri)
    catalogues = Catalogues(CatalogueStore(indexes))
    try:
        yield Shop(client[database], catalogues, np.random.default_rng(seed))
    finally:
        await catalogues.aclose()
        await client.close()


def _products(rng: np.random.Generator, n: int) -> list[dict]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [products.new_product(SHOP, {"title": f"product {i}"}, [{"_id": f"img-{i}-{rng.integers(1 << 30)}",
                                                                     "width": 60, "height": 80}],
                                 {"embeddings": [vector.tolist()], "embedder": "d"}) for i, vector in enumerate(vectors)]


@pytest.mark.slow
def test_a_catalogue_grown_past_the_exact_limit_is_rebuilt_as_ivf_losing_nothing(mongo_server, mongo_database,
                                                                                  tmp_path, monkeypatch):
    monkeypatch.setattr(kinds, "EXACT_LIMIT", 300)

    async def go():
        async with opened(mongo_server, mongo_database, tmp_path / "indexes", 7) as shop:
            await shop.add(250)
            kinds_seen = [(await shop.catalogues.index(shop.db, SHOP)).kind]
            await shop.add(100)  # 350: past the limit; built again in the background
            await shop.add(20)  # made while it is being built
            await shop.catalogues.reshaped(SHOP)
            await shop.add(5)  # after the swap
            grown = await shop.catalogues.catch_up(shop.db, SHOP)
            kinds_seen.append(grown.kind)
            queries = np.asarray([p["embeddings"][0] for p in shop.added], dtype=np.float32)
            found = [hits[0].product_id for hits in grown.search_many(queries, 1)]
            on_disk = CatalogueStore(tmp_path / "indexes").get(SHOP)
            return kinds_seen, grown.n_vectors, found, [p["_id"] for p in shop.added], on_disk.kind, on_disk.n_vectors

    kinds_seen, n_vectors, found, ids, saved_kind, saved_vectors = asyncio.run(go())
    assert kinds_seen == ["flat", "ivf"]
    assert n_vectors == len(ids) == 375 and (saved_kind, saved_vectors) == ("ivf", 375)
    # Every product, the ones added while the index was built again included, finds itself first.
    assert sum(f == i for f, i in zip(found, ids)) >= 0.98 * len(ids)


@pytest.mark.slow
def test_a_large_copy_is_saved_at_most_every_so_often_and_at_shutdown(mongo_server, mongo_database, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(catalogue, "SAVE_AT_ONCE_BELOW", 100)
    monkeypatch.setattr(catalogue, "SAVE_EVERY_S", 3600.0)

    def on_disk() -> int:
        return CatalogueStore(tmp_path / "indexes").get(SHOP).n_vectors

    async def go():
        seen = []
        async with opened(mongo_server, mongo_database, tmp_path / "indexes", 3) as shop:
            for n in (150, 30, 20):  # the first catch-up saves (none saved yet), the next ones wait for the hour
                await shop.add(n)
                seen.append(((await shop.catalogues.index(shop.db, SHOP)).n_vectors, on_disk()))
        return seen, on_disk()

    seen, at_shutdown = asyncio.run(go())
    assert seen == [(150, 150), (180, 150), (200, 150)] and at_shutdown == 200


@pytest.mark.slow
def test_the_dimension_check_reads_the_database_in_a_process_that_does_not_search(mongo_server, mongo_database,
                                                                                 tmp_path):
    async def go():
        async with opened(mongo_server, mongo_database, tmp_path / "indexes", 5) as shop:
            await shop.catalogues.check_dim(shop.db, SHOP, 16)  # a shop without vectors takes any
            await shop.add(3)
            await shop.catalogues.check_dim(shop.db, SHOP, DIM)
            with pytest.raises(ValueError, match=f"holds {DIM}-d vectors, not 16-d"):
                await shop.catalogues.check_dim(shop.db, SHOP, 16)

    asyncio.run(go())
    assert not (tmp_path / "indexes" / SHOP).exists()  # checked without building an index
