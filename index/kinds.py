"""Which FAISS index a catalogue gets: exact below EXACT_LIMIT vectors, IVF above it, compressed IVF-PQ from
COMPRESS_FROM.

Every kind is a `faiss.index_factory` description (`factory_string`), takes ids (`add_with_ids`), removes by id
and reconstructs a vector by id:
- "flat": "IDMap2,Flat", exact inner product (cosine: vectors are L2-normalised).
- "ivf": "IVF<n>,Flat", keeping the ids itself, with a hash-table direct map for reconstruct/remove. Its coarse
  quantizer is flat up to HNSW_QUANTIZER_FROM lists and HNSW above (millions of vectors), where a flat scan of
  the centroids would dominate a query. HNSW as the main index is not used: it cannot remove vectors, and a
  shop's catalogue changes every day.
- "pq": "PCAR<r>,IVF<n>,PQ<r/2>": a PCA with a random rotation to r = 13/16 of the dimensions (208 of 256), then
  product quantisation of each vector's residual from its list's centroid, one byte per two of those dimensions
  (104 bytes for 256-d, against 1,024 as floats), plus the 8-byte id IVF keeps. No direct map (a hash table would
  cost more bytes per vector than the codes save): a removal scans the lists. The codes alone order close
  neighbours badly (recall@10 0.83 at 1M clustered vectors with 128 bytes of code, 0.51 with these 104: the 10th
  and 11th neighbours differ by less than the code's error), so a search takes the codes' best RERANK_CANDIDATES
  (at least) and re-ranks them by exact inner product with the float vectors, read from a file on disk through a
  memory map (index/exact_vectors.py): RAM holds the codes and ids, the disk 1,024 bytes per vector, and a query
  reads its candidates' pages. FAISS's own IndexRefine would need the float vectors in RAM (its refine index is an
  IndexFlat, addressed by position, so it cannot remove either). Measured, recall against exact search included,
  and the codes not taken (PQ128 over all 256 dimensions; PQ112, PQ96, OPQ in place of the PCA): docs/benchmarks.md,
  "Compressed vectors".
"""
from __future__ import annotations

import math

import faiss
import numpy as np

EXACT_LIMIT = 50_000
COMPRESS_FROM = 500_000  # 0.5 GB of floats per replica; from here memory matters more than the last % of recall
HNSW_QUANTIZER_FROM = 16_384
# The compressed kind's candidates re-ranked by exact vectors, a search setting (a saved index does not keep it).
# Measured at 1M vectors, 200 queries (docs/benchmarks.md, "Real embeddings beyond the photos' count"): the 104-byte
# codes' best 100 held 0.9695 of the true ten on clustered synthetic vectors but 0.9455 on real embeddings (the
# photos and views of them), their best 150 0.9890 and 0.9625, for 0.07 ms more a query from the page cache.
RERANK_CANDIDATES = 150
# The compressed kind's codes keep this fraction of the dimensions (PCA), at one byte per two of them.
PQ_DIMENSIONS = 13 / 16
PQ_POINTS_PER_CODE = 64
# A compressed index is compacted (built again from the live vectors) once its file holds more removed rows than
# live ones, and at least this many (256 MB at 256-d).
COMPACT_FROM_ROWS = 250_000
KINDS = ("flat", "ivf", "pq")
APPROXIMATE = ("ivf", "pq")


def choose_kind(n_vectors: int) -> str:
    if n_vectors < EXACT_LIMIT:
        return "flat"
    return "ivf" if n_vectors < COMPRESS_FROM else "pq"


def outgrown(kind: str, nlist: int | None, n_vectors: int, rows_on_disk: int = 0) -> str | None:
    """Why an index should be built again at its present size, or None. The kind, the lists and the compressed
    kind's file are chosen when an index is built, while a shop's catalogue grows a product at a time: without this a
    shop that grew past EXACT_LIMIT through the API would keep scanning every vector, past COMPRESS_FROM keep a GB of
    floats per million in every replica, and a compressed index would keep every removed product's row on disk."""
    wanted = choose_kind(n_vectors)
    if KINDS.index(wanted) > KINDS.index(kind):  # never back down: a shrinking shop's index still answers well
        return f"{n_vectors:,} vectors call for a {wanted} index, not {kind}"
    if kind in APPROXIMATE and nlist and n_vectors > 4 * (nlist / 4) ** 2:  # 4× what `ivf_lists` sized them for
        return f"{n_vectors:,} vectors in {nlist} lists, sized for {(nlist // 4) ** 2:,}"
    removed = rows_on_disk - n_vectors
    if removed > max(n_vectors, COMPACT_FROM_ROWS):
        return f"{removed:,} removed vectors' rows on disk beside {n_vectors:,} live ones"
    return None


def ivf_lists(n_vectors: int) -> int:
    """About 4·sqrt(n) lists, as a power of two (FAISS's guideline), within [64, 65536]."""
    target = 4 * math.sqrt(max(n_vectors, 1))
    return int(min(65_536, max(64, 2 ** round(math.log2(target)))))


def default_nprobe(nlist: int) -> int:
    """Lists scanned per query. Measured on 1M clustered 256-d vectors, 4096 lists (scripts/bench_retrieval.py):
    nprobe 8 gave recall@10 0.96, 16 gave 0.99 (0.8 ms), 32 0.995 (1.3 ms), 64 0.996 (2.1 ms). Fewer lists per
    cluster need more probes (20k 64-d vectors in 512 lists: 16 gave 0.92, 32 gave 0.98), hence 32 at least."""
    return max(32, nlist // 128)


def factory_string(kind: str, nlist: int | None = None, dim: int = 256) -> str:
    """The kind as a `faiss.index_factory` description."""
    if kind == "flat":
        return "IDMap2,Flat"
    if kind in APPROXIMATE:
        if not nlist:
            raise ValueError(f"an {kind} index needs nlist (see ivf_lists)")
        quantizer = "_HNSW32" if nlist >= HNSW_QUANTIZER_FROM else ""
        if kind == "ivf":
            return f"IVF{nlist}{quantizer},Flat"
        reduced = pq_dimensions(dim)
        return f"PCAR{reduced},IVF{nlist}{quantizer},PQ{reduced // 2}"
    raise ValueError(f"unknown index kind {kind!r}: use one of {KINDS}")


def pq_dimensions(dim: int) -> int:
    """The dimensions the compressed kind's PCA keeps of `dim`: PQ_DIMENSIONS of them, an even number."""
    return 2 * max(1, round(dim * PQ_DIMENSIONS / 2))


def new_index(kind: str, dim: int, nlist: int | None = None) -> faiss.Index:
    """An empty index of `kind` for inner product; an "ivf" or "pq" one still needs `train`."""
    index = faiss.index_factory(dim, factory_string(kind, nlist, dim), faiss.METRIC_INNER_PRODUCT)
    if kind == "ivf":
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    return index


def memory_bytes(index: faiss.Index) -> int:
    """The index's own size as FAISS writes it: codes or vectors, ids, and what training made (centroids,
    codebooks), counted without making a copy."""
    total = 0

    def count(chunk: bytes) -> int:
        nonlocal total
        total += len(chunk)
        return len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count))
    return total


def train(index: faiss.Index, vectors: np.ndarray, *, seed: int = 1234, max_per_list: int = 40) -> None:
    """k-means on a sample of at most `max_per_list` vectors per list (enough for stable centroids, and quick)."""
    if index.is_trained:
        return
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))  # the compressed kind's is behind its PCA
    nlist = ivf.nlist
    if len(vectors) < nlist:
        raise ValueError(f"training an IVF index of {nlist} lists needs at least {nlist} vectors, got {len(vectors)}")
    rng = np.random.default_rng(seed)
    coded = isinstance(ivf, faiss.IndexIVFPQ)
    if coded:
        # The codebooks learn from at most 64 residuals per code (FAISS warns below 39) in 10 rounds: 128 k-means of
        # 256 codes took 53 s on 20,000 vectors with FAISS's defaults (256 per code, 25 rounds) on one busy core.
        ivf.pq.cp.max_points_per_centroid = PQ_POINTS_PER_CODE
        ivf.pq.cp.niter = 10
        # FAISS's factory turns on polysemous training (reordering codes for Hamming filtering, which searches here
        # never use): it took 4 of the 5 minutes of training 20,000 vectors.
        ivf.do_polysemous_training = False
    sample_size = min(len(vectors), max(nlist * max_per_list, 256 * PQ_POINTS_PER_CODE if coded else 0))
    sample = vectors[np.sort(rng.choice(len(vectors), sample_size, replace=False))]
    ivf.cp.seed = seed
    ivf.cp.niter = 10
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
