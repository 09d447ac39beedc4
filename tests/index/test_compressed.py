"""The compressed (IVF-PQ) index against the exact one as oracle, on seeded clustered data: picked by size, a
fraction of the bytes, recall measured, and it changes and persists like the others."""
import numpy as np
import pytest

from index import CatalogueIndex, choose_kind, load, save
from index.kinds import COMPRESS_FROM, RERANK_CANDIDATES, factory_string, pq_dimensions
from kalas.synthetic_vectors import ClusteredVectors

DIM = 64
N = 20_000


@pytest.fixture(scope="module")
def indexes() -> tuple[CatalogueIndex, CatalogueIndex, np.ndarray]:
    generator = ClusteredVectors(DIM, 50, noise=0.6, seed=7)
    gallery, _ = generator.sample(N)
    queries, _ = generator.sample(200, stream=1)
    ids = [f"sku-{i}" for i in range(N)]
    return (CatalogueIndex.build(DIM, ids, gallery, kind="flat"), CatalogueIndex.build(DIM, ids, gallery, kind="pq"),
            queries)


def recall_at_10(exact: CatalogueIndex, approximate: CatalogueIndex, queries: np.ndarray) -> float:
    truth, found = exact.search_many(queries, k=10), approximate.search_many(queries, k=10)
    return float(np.mean([len({h.product_id for h in t} & {h.product_id for h in f}) / 10 for t, f in zip(truth, found)]))


def test_size_picks_compression_for_large_catalogues() -> None:
    assert choose_kind(COMPRESS_FROM - 1) == "ivf" and choose_kind(COMPRESS_FROM) == "pq"
    assert factory_string("pq", 4096, 256) == "PCAR208,IVF4096,PQ104"  # 13/16 of the dimensions, a byte per two
    assert factory_string("pq", 64, 255) == "PCAR208,IVF64,PQ104"  # an odd dimension too


def test_pq_takes_a_fraction_of_the_bytes_and_keeps_most_neighbours(indexes) -> None:
    exact, compressed, queries = indexes
    assert compressed.kind == "pq"
    # Codes of a byte per two of the PCA's dimensions and an 8-byte id per vector, plus the PCA, the centroids and
    # the codebooks (large beside 20k vectors).
    per_vector = compressed.memory_bytes() / compressed.n_vectors
    assert pq_dimensions(DIM) / 2 + 8 <= per_vector < 0.6 * exact.memory_bytes() / exact.n_vectors
    recall = recall_at_10(exact, compressed, queries)
    print(f"\npq: {per_vector:.0f} bytes per vector against {exact.memory_bytes() / exact.n_vectors:.0f}; "
          f"recall@10 {recall:.3f}")
    assert recall >= 0.75


def test_re_ranking_by_exact_vectors_lifts_recall_over_the_codes_alone(indexes) -> None:
    exact, compressed, queries = indexes
    codes_alone = compressed.rerank
    try:
        compressed.rerank = 0
        before = recall_at_10(exact, compressed, queries)
    finally:
        compressed.rerank = codes_alone
    after = recall_at_10(exact, compressed, queries)
    print(f"\npq recall@10: {before:.3f} by the codes, {after:.3f} re-ranking {codes_alone} candidates exactly")
    assert after >= 0.95 and after > before + 0.05
    # Scores are exact cosines now, not the codes' estimates.
    query = queries[3] / np.linalg.norm(queries[3])
    for hit in compressed.search(query, k=5):
        assert hit.score == pytest.approx(float(exact.vectors_of(hit.product_id)[hit.image] @ query), abs=1e-5)


def test_pq_adds_updates_removes_and_persists(indexes, tmp_path) -> None:
    exact, compressed, queries = indexes
    nearest = compressed.search(queries[0], k=1)[0]
    assert compressed.remove(nearest.product_id) and nearest.product_id not in compressed
    assert nearest.product_id not in {h.product_id for h in compressed.search(queries[0], k=10)}
    compressed.upsert("new", queries[0][None], images=["front"])
    assert compressed.search(queries[0], k=1)[0].product_id == "new"
    # The exact vector, read back from the file the compressed kind re-ranks from.
    assert compressed.vectors_of("new")["front"] == pytest.approx(queries[0] / np.linalg.norm(queries[0]))
    compressed.position = 42
    compressed.rerank = 7  # a search setting: the loaded index re-ranks as today's code says
    try:
        loaded = load(save(compressed, tmp_path / "index.kidx"))
    finally:
        compressed.rerank = RERANK_CANDIDATES
    assert loaded.kind == "pq" and loaded.position == 42 and loaded.n_vectors == compressed.n_vectors
    assert loaded.rerank == RERANK_CANDIDATES
    assert [h.product_id for h in loaded.search(queries[1], k=10)] == [h.product_id for h in compressed.search(queries[1], k=10)]
