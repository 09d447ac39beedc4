"""The compressed kind's exact vectors on disk (index/exact_vectors.py): re-ranking equals exact search when it sees
every candidate, changes are honoured, the file survives a restart and does not pile up across rebuilds."""
from pathlib import Path

import numpy as np
import pytest

from index import CatalogueIndex, CatalogueStore, load, save
from kalas.synthetic_vectors import ClusteredVectors

DIM = 32
N = 10_000  # FAISS asks for 39 training points per code (256 codes): fewer draws a warning per sub-quantizer


def sample(n: int = N, seed: int = 3) -> tuple[list[str], np.ndarray, np.ndarray]:
    generator = ClusteredVectors(DIM, 20, noise=0.6, seed=seed)
    gallery, _ = generator.sample(n)
    queries, _ = generator.sample(20, stream=1)
    return [f"sku-{i}" for i in range(n)], gallery, queries


def build_pq(directory: Path | None = None, n: int = N, seed: int = 3) -> tuple[CatalogueIndex, np.ndarray, np.ndarray]:
    ids, gallery, queries = sample(n, seed)
    return CatalogueIndex.build(DIM, ids, gallery, kind="pq", directory=directory), gallery, queries


def first_vector(index: CatalogueIndex, product_id: str) -> np.ndarray:
    return next(iter(index.vectors_of(product_id).values()))


def vector_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".vectors"))


@pytest.fixture(scope="module")
def built() -> tuple[CatalogueIndex, CatalogueIndex, np.ndarray]:
    ids, gallery, queries = sample()
    compressed = CatalogueIndex.build(DIM, ids, gallery, kind="pq")
    return compressed, CatalogueIndex.build(DIM, ids, gallery, kind="flat"), queries


def test_re_ranking_every_candidate_is_exact_search(built) -> None:
    compressed, exact, queries = built
    settings = compressed.nprobe, compressed.rerank
    compressed.nprobe, compressed.rerank = compressed.nlist, N  # every list scanned, every vector re-ranked
    try:
        found, truth = compressed.search_many(queries, k=10), exact.search_many(queries, k=10)
    finally:
        compressed.nprobe, compressed.rerank = settings
    assert [[h.product_id for h in hits] for hits in found] == [[h.product_id for h in hits] for hits in truth]
    assert np.array([[h.score for h in hits] for hits in found]) == pytest.approx(
        np.array([[h.score for h in hits] for hits in truth]), abs=1e-5)


def test_removals_and_updates_are_honoured_after_re_ranking(built) -> None:
    compressed, _, queries = built
    query = queries[0] / np.linalg.norm(queries[0])
    first, second = compressed.search(query, k=2)
    assert compressed.remove(first.product_id)
    assert first.product_id not in {h.product_id for h in compressed.search(query, k=10)}
    # The update's new vector is the query itself: first with the exact score 1; its old row is never read again.
    compressed.upsert(second.product_id, np.stack([-query, query]), images=["back", "front"])
    top = compressed.search(query, k=10)
    assert (top[0].product_id, top[0].image) == (second.product_id, "front") and top[0].score == pytest.approx(1.0)
    assert [h.product_id for h in top].count(second.product_id) == 1
    assert compressed.vectors_of(second.product_id)["back"] == pytest.approx(-query)
    # Rows are never rewritten: the file holds the removed and replaced rows until a rebuild.
    assert compressed.exact_vectors.rows == N + 2 and compressed.n_vectors == N


def test_a_restarted_store_reads_the_saved_file_and_keeps_appending(tmp_path: Path) -> None:
    store = CatalogueStore(tmp_path)
    index, _, queries = build_pq(store.directory("shop"), n=N)
    index.remove("sku-7")
    store.replace("shop", index)
    directory = store.directory("shop")
    (name,) = vector_files(directory)
    assert not list(directory.glob(".unsaved.*")), "the built file is linked to its saved name, not copied"

    restarted = CatalogueStore(tmp_path).get("shop")
    assert restarted.kind == "pq" and restarted.exact_vectors.path == directory / name
    restarted.exact_vectors.evict()  # read from the disk, not the page cache: the same answers
    assert restarted.search_many(queries, k=10) == index.search_many(queries, k=10)
    restarted.upsert("sku-new", queries[:1], images=["front"])  # its row goes after the saved ones
    assert restarted.search(queries[0], k=1)[0].product_id == "sku-new"
    assert restarted.exact_vectors.rows == N + 1


def test_rebuilds_leave_one_file_of_the_live_vectors(tmp_path: Path) -> None:
    store = CatalogueStore(tmp_path)
    directory = store.directory("shop")
    for seed in (1, 2, 3):
        index, _, _ = build_pq(directory, n=N, seed=seed)
        for i in range(0, 100, 2):
            index.upsert(f"sku-{i}", first_vector(index, f"sku-{i + 1}")[None])  # tombstones in the file
        store.replace("shop", index)
        assert index.exact_vectors.rows == N + 50
    (name,) = vector_files(directory)
    assert (directory / name).stat().st_size == (N + 50) * DIM * 4
    # A rebuild compacts: the new file holds the live vectors alone, and the previous file goes once it is saved.
    ids = index.products()
    vectors = np.stack([first_vector(index, p) for p in ids])
    store.replace("shop", CatalogueIndex.build(DIM, ids, vectors, kind="pq", directory=directory))
    (compacted,) = vector_files(directory)
    assert compacted != name and (directory / compacted).stat().st_size == N * DIM * 4
    # The index it replaced still answers from the file it had open (searches running across the swap).
    untouched = ids.index("sku-500")
    assert index.search(vectors[untouched], k=1)[0].product_id == "sku-500"
    # Saved as another kind, the catalogue keeps no vector file.
    store.replace("shop", CatalogueIndex.build(DIM, ids, vectors, kind="flat"))
    assert vector_files(directory) == []


def test_an_index_built_without_a_directory_is_copied_into_place(tmp_path: Path) -> None:
    index, _, queries = build_pq(None, n=N)
    save(index, tmp_path / "index.kidx")
    (name,) = vector_files(tmp_path)
    assert index.exact_vectors.path == tmp_path / name  # it reads and appends to the copy from now on
    index.upsert("sku-new", queries[:1])
    save(index, tmp_path / "index.kidx")
    assert vector_files(tmp_path) == [name]
    assert load(tmp_path / "index.kidx").search(queries[0], k=1)[0].product_id == "sku-new"


def test_a_missing_or_short_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    index, _, _ = build_pq(tmp_path, n=N)
    save(index, tmp_path / "index.kidx")
    (name,) = vector_files(tmp_path)
    with open(tmp_path / name, "r+b") as handle:
        handle.truncate(100 * DIM * 4)
    with pytest.raises(ValueError, match="holds 100 vectors, the index needs 10000: rebuild"):
        load(tmp_path / "index.kidx")
    (tmp_path / name).unlink()
    with pytest.raises(ValueError, match="is missing.*rebuild the index from the database"):
        load(tmp_path / "index.kidx")
