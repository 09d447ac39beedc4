"""A store of one index per catalogue: isolation between shops, swaps without downtime, concurrent use."""
import threading
from pathlib import Path

import numpy as np
import pytest

from index import CatalogueIndex, CatalogueStore
from kalas.synthetic_vectors import ClusteredVectors

DIM = 16


def vectors(n: int, seed: int) -> np.ndarray:
    return ClusteredVectors(DIM, 4, seed=seed).sample(n)[0]


def test_a_search_in_one_catalogue_never_returns_another_catalogues_products(tmp_path: Path) -> None:
    store = CatalogueStore(tmp_path)
    same = vectors(50, seed=1)
    shop_a = store.get_or_create("shop-a", DIM)
    shop_b = store.get_or_create("shop-b", DIM)
    for i, v in enumerate(same):  # identical images in both shops, under colliding product ids too
        shop_a.upsert(f"a-{i}", v[None])
        shop_b.upsert(f"b-{i}", v[None])
    shop_a.upsert("shared-id", same[:1])
    shop_b.upsert("shared-id", -same[:1])
    for catalogue, prefix in (("shop-a", "a-"), ("shop-b", "b-")):
        for query in same:
            hits = store.get(catalogue).search(query, k=60)
            assert all(h.product_id.startswith(prefix) or h.product_id == "shared-id" for h in hits)
    assert store.get("shop-a").search(same[0], k=1)[0].score == pytest.approx(1.0)
    assert store.get("shop-b").vectors_of("shared-id")["0"] == pytest.approx(-same[0] / np.linalg.norm(same[0]))
    store.save("shop-a")
    store.save("shop-b")
    reopened = CatalogueStore(tmp_path)
    assert reopened.catalogues() == ["shop-a", "shop-b"]
    assert set(reopened.get("shop-a").products()) == {f"a-{i}" for i in range(50)} | {"shared-id"}


def test_unknown_and_unsafe_catalogue_ids(tmp_path: Path) -> None:
    store = CatalogueStore(tmp_path)
    assert store.get("nobody") is None
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="is not allowed"):
            store.get(bad)
    store.get_or_create("shop", DIM)
    with pytest.raises(ValueError, match="holds 16-d vectors"):
        store.get_or_create("shop", DIM * 2)


def test_replace_swaps_in_a_new_index_while_searches_keep_running(tmp_path: Path) -> None:
    store = CatalogueStore(tmp_path)
    old = CatalogueIndex.build(DIM, [f"old-{i}" for i in range(2000)], vectors(2000, seed=2))
    store.replace("shop", old)
    queries = vectors(20, seed=9)
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def search_forever() -> None:
        try:
            while not stop.is_set():
                for q in queries:
                    seen.update(h.product_id.split("-")[0] for h in store.get("shop").search(q, k=5))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    readers = [threading.Thread(target=search_forever) for _ in range(3)]
    for reader in readers:
        reader.start()
    new = CatalogueIndex.build(DIM, [f"new-{i}" for i in range(2000)], vectors(2000, seed=3))
    store.replace("shop", new)
    other = CatalogueStore(tmp_path)  # another process's view: reload picks up the file
    assert other.reload("shop").products()[:1] == ["new-0"]
    stop.set()
    for reader in readers:
        reader.join()
    assert not errors
    assert {h.product_id.split("-")[0] for q in queries for h in store.get("shop").search(q, k=5)} == {"new"}
    assert "old" in seen


def test_concurrent_searches_and_updates_stay_consistent(tmp_path: Path) -> None:
    index = CatalogueStore(tmp_path).get_or_create("shop", DIM)
    data = vectors(400, seed=4)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(offset, 400, 2):
                index.upsert(f"p{i}", data[i : i + 1], category="even" if i % 2 == 0 else "odd")
                if i % 10 == 0:
                    index.remove(f"p{i}")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    def reader() -> None:
        try:
            for q in data[:100]:
                for hit in index.search(q, k=5, category="odd"):
                    assert int(hit.product_id[1:]) % 2 == 1
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0, 1)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 400 - 40 and index.n_vectors == 360
