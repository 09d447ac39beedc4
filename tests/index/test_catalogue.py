"""Add / update / remove semantics, per-product results and filters of one catalogue's index (real FAISS)."""
import numpy as np
import pytest

from index import CatalogueIndex
from kalas.synthetic_vectors import ClusteredVectors

DIM = 32


def unit(*hot: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[list(hot)] = 1.0
    return v


def test_search_returns_products_best_first_with_cosine_scores() -> None:
    index = CatalogueIndex(DIM)
    index.upsert("a", unit(0)[None])
    index.upsert("b", unit(0, 1)[None])
    index.upsert("c", unit(2)[None])
    hits = index.search(unit(0), k=3)
    assert [h.product_id for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(1.0)
    assert hits[1].score == pytest.approx(1 / np.sqrt(2))
    assert hits[2].score == pytest.approx(0.0)


def test_a_product_with_several_images_takes_one_place_with_its_best_image() -> None:
    index = CatalogueIndex(DIM)
    index.upsert("many", np.stack([unit(0), unit(0, 1), unit(0, 2)]), images=["front", "side", "back"])
    index.upsert("other", unit(0, 3, 4)[None])
    hits = index.search(unit(0, 2), k=2)
    assert [(h.product_id, h.image) for h in hits] == [("many", "back"), ("other", "0")]
    assert index.n_vectors == 4 and len(index) == 2


def test_update_replaces_all_images_of_a_product() -> None:
    index = CatalogueIndex(DIM)
    index.add("p", np.stack([unit(0), unit(1)]), images=["x", "y"], category="shirts")
    index.update("p", unit(5)[None], images=["z"], category="shoes")
    assert index.n_vectors == 1
    assert index.vectors_of("p").keys() == {"z"}
    assert index.search(unit(0), k=1)[0].image == "z"
    assert index.search(unit(5), k=5, category="shirts") == []
    assert index.category_of("p") == "shoes"


def test_add_and_update_refuse_the_wrong_case() -> None:
    index = CatalogueIndex(DIM)
    index.add("p", unit(0)[None])
    with pytest.raises(KeyError, match="already in the index"):
        index.add("p", unit(1)[None])
    with pytest.raises(KeyError, match="not in the index"):
        index.update("q", unit(1)[None])


def test_remove_takes_every_image_out_and_reports_absence() -> None:
    index = CatalogueIndex(DIM)
    index.upsert("gone", np.stack([unit(0), unit(1)]))
    index.upsert("kept", unit(2)[None])
    assert index.remove("gone") is True
    assert index.remove("gone") is False
    assert "gone" not in index
    assert [h.product_id for h in index.search(unit(0), k=10)] == ["kept"]
    assert index.n_vectors == 1


def test_category_filter_and_exclusion() -> None:
    index = CatalogueIndex(DIM)
    index.upsert("shirt-1", unit(0)[None], category="shirts")
    index.upsert("shirt-2", unit(0, 1)[None], category="shirts")
    index.upsert("shoe-1", unit(0)[None], category="shoes")
    assert {h.product_id for h in index.search(unit(0), k=5, category="shirts")} == {"shirt-1", "shirt-2"}
    assert [h.product_id for h in index.search(unit(0), k=5, category="shoes")] == ["shoe-1"]
    assert index.search(unit(0), k=5, category="hats") == []
    assert [h.product_id for h in index.search(unit(0), k=1, category="shirts", exclude={"shirt-1"})] == ["shirt-2"]
    assert [h.product_id for h in index.search(unit(0), k=5, exclude="shirt-1")] == ["shoe-1", "shirt-2"]


def test_empty_index_and_k_larger_than_catalogue() -> None:
    index = CatalogueIndex(DIM)
    assert index.search(unit(0), k=5) == []
    index.upsert("only", unit(0)[None])
    assert len(index.search(unit(1), k=50)) == 1


@pytest.mark.parametrize(
    ("vectors", "message"),
    [(np.ones((1, DIM + 1)), "dimension 32"), (np.full((1, DIM), np.nan), "NaN"), (np.zeros((1, DIM)), "zero vector")],
)
def test_bad_vectors_are_refused_and_change_nothing(vectors: np.ndarray, message: str) -> None:
    index = CatalogueIndex(DIM)
    index.upsert("p", unit(0)[None])
    with pytest.raises(ValueError, match=message):
        index.upsert("p", vectors)
    assert index.vectors_of("p")["0"] == pytest.approx(unit(0))


def test_build_matches_upserts_one_by_one() -> None:
    vectors, clusters = ClusteredVectors(DIM, 8, seed=3).sample(300)
    products = [f"p{i // 3}" for i in range(300)]  # three images per product
    built = CatalogueIndex.build(DIM, products, vectors, categories=[f"c{c}" for c in clusters], kind="flat")
    upserted = CatalogueIndex(DIM)
    for p in range(100):
        rows = slice(3 * p, 3 * p + 3)
        upserted.upsert(f"p{p}", vectors[rows], images=[str(r) for r in range(300)[rows]], category=f"c{clusters[3 * p]}")
    queries, _ = ClusteredVectors(DIM, 8, seed=3).sample(20, stream=1)
    assert built.search_many(queries, k=7) == upserted.search_many(queries, k=7)
    assert [built.search(q, k=7) for q in queries] == built.search_many(queries, k=7)


def test_a_search_leaves_this_threads_openmp_setting_as_it_was() -> None:
    # torch shares the OpenMP runtime: a search must not leave the caller's next forward pass on one core.
    import faiss

    index = CatalogueIndex(DIM)
    index.upsert("a", unit(0)[None])
    faiss.omp_set_num_threads(2)
    index.search(unit(0), k=1)
    index.search_many(np.stack([unit(0), unit(1)]), k=1)
    assert faiss.omp_get_max_threads() == 2


def test_lookups_beside_a_writer_see_every_held_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """`in`, `products` and `category_of` take the read lock: a change may replace the arrays a lookup reads
    (index/product_ids.py merges its recent ids every few changes here)."""
    import threading

    from index import product_ids

    monkeypatch.setattr(product_ids, "MERGE_AT", 4)
    monkeypatch.setattr(product_ids, "MERGE_FRACTION", 2)
    index = CatalogueIndex(DIM)
    held = [f"{i:024x}" for i in range(50)]
    for product in held:
        index.upsert(product, unit(0)[None], category="kept")
    done, seen = threading.Event(), []

    def write() -> None:
        for i in range(50, 2050):
            index.upsert(f"{i:024x}", unit(1)[None])
            index.upsert(held[i % 50], unit(0)[None], category="kept")  # removed and added again, under the lock
            if i % 3 == 0:
                index.remove(f"{i - 1:024x}")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        seen.append(all(product in index and index.category_of(product) == "kept" for product in held))
        seen.append(set(held) <= set(index.products()))
    writer.join()
    assert seen and all(seen)
