"""The approximate (IVF) index against the exact one as oracle, on seeded data with real neighbour structure."""
import numpy as np
import pytest

from index import EXACT_LIMIT, CatalogueIndex, choose_kind
from kalas.synthetic_vectors import ClusteredVectors

DIM = 64
N = 20_000


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    generator = ClusteredVectors(DIM, 50, noise=1.0, seed=7)
    gallery, _ = generator.sample(N)
    queries, _ = generator.sample(200, stream=1)
    return gallery, queries, [f"sku-{i}" for i in range(N)]


def recall_at_10(exact: CatalogueIndex, approximate: CatalogueIndex, queries: np.ndarray) -> float:
    truth = exact.search_many(queries, k=10)
    found = approximate.search_many(queries, k=10)
    return float(np.mean([len({h.product_id for h in t} & {h.product_id for h in f}) / 10 for t, f in zip(truth, found)]))


def test_size_picks_the_kind() -> None:
    assert choose_kind(EXACT_LIMIT - 1) == "flat"
    assert choose_kind(EXACT_LIMIT) == "ivf"


def test_ivf_recall_against_exact_oracle(data: tuple) -> None:
    gallery, queries, ids = data
    exact = CatalogueIndex.build(DIM, ids, gallery, kind="flat")
    approximate = CatalogueIndex.build(DIM, ids, gallery, kind="ivf")
    assert approximate.kind == "ivf" and approximate.nlist >= 64
    assert recall_at_10(exact, approximate, queries) >= 0.95
    # Scanning every list makes IVF exact: the same products in the same order.
    approximate.nprobe = approximate.nlist
    assert [[h.product_id for h in r] for r in approximate.search_many(queries[:20], k=10)] == \
        [[h.product_id for h in r] for r in exact.search_many(queries[:20], k=10)]


def test_ivf_add_update_remove_match_the_exact_index(data: tuple) -> None:
    gallery, queries, ids = data
    exact = CatalogueIndex.build(DIM, ids, gallery, kind="flat")
    approximate = CatalogueIndex.build(DIM, ids, gallery, kind="ivf")
    approximate.nprobe = approximate.nlist
    nearest = exact.search(queries[0], k=3)
    for index in (exact, approximate):
        index.remove(nearest[0].product_id)
        index.update(nearest[1].product_id, -queries[0][None])  # now the farthest
        index.add("new", queries[0][None])
    assert approximate.search(queries[0], k=3) == exact.search(queries[0], k=3)
    assert approximate.search(queries[0], k=1)[0].product_id == "new"
    assert nearest[1].product_id not in {h.product_id for h in approximate.search(queries[0], k=100)}
