"""One catalogue's vector index: the images of its products, searched by product.

A product has one or more images; each image is a vector in FAISS under its own int64 slot id, and the slot maps
back to (product id, image key). A search returns products, each with the score of its best-matching image,
so a product with five photos takes one place in the top k, not five.

    index = CatalogueIndex(dim=256)
    index.upsert("sku-1", vectors, images=["front", "back"], category="tshirts")
    index.search(query, k=10, category="tshirts", exclude={"sku-1"}) -> list[Hit]

A compressed ("pq") index re-ranks its candidates by their exact vectors, kept on disk (index/exact_vectors.py):
`build(..., directory=...)` puts that file where the index will be saved.

Thread safety: searches run concurrently; add/update/remove wait for them and run alone (ReadWriteLock).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager, Iterable, Sequence

import faiss
import numpy as np

from index import kinds
from index.device import batch_threads, omp_threads, search_replica
from index.exact_vectors import ExactVectors
from index.locks import ReadWriteLock
from index.slots import Slots


@dataclass(frozen=True)
class Hit:
    product_id: str
    score: float  # cosine similarity of the product's best-matching image
    image: str  # the key of that image


def as_vectors(vectors: np.ndarray | Sequence[float], dim: int) -> np.ndarray:
    """`vectors` as a C-contiguous float32 [n, dim] array, L2-normalised; ValueError on a wrong shape or NaN."""
    array = np.array(vectors, dtype=np.float32, copy=True, ndmin=2)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got an array of shape {np.shape(vectors)}")
    if not np.isfinite(array).all():
        raise ValueError("vectors contain NaN or infinity")
    norms = np.linalg.norm(array, axis=1)
    if (norms == 0).any():
        raise ValueError("a zero vector has no direction to compare: check the embedder's output")
    array /= norms[:, None]
    return np.ascontiguousarray(array)


def _ids(exclude: Iterable[str]) -> set[str]:
    # A lone id passed as a string must not turn into a set of its characters.
    return {exclude} if isinstance(exclude, str) else set(exclude)


class CatalogueIndex:
    def __init__(self, dim: int, *, kind: str = "flat", nlist: int | None = None, nprobe: int | None = None,
                 faiss_index: faiss.Index | None = None, exact: ExactVectors | None = None,
                 rerank: int | None = None) -> None:
        self.dim = dim
        self.kind = kind
        self.nlist = nlist
        self.nprobe = nprobe or (kinds.default_nprobe(nlist) if nlist else None)
        # The compressed kind's exact vectors (row = slot), and how many candidates a search re-ranks by them (at
        # least; 0 keeps the codes' order).
        self._exact = (exact or ExactVectors.create(dim)) if kind == "pq" else None
        self.rerank = (kinds.RERANK_CANDIDATES if rerank is None else rerank) if kind == "pq" else None
        assert self._exact is None or self._exact.dim == dim
        self._index = faiss_index if faiss_index is not None else kinds.new_index(kind, dim, nlist)
        assert self._index.d == dim, f"the FAISS index has dimension {self._index.d}, not {dim}"
        self._lock = ReadWriteLock()
        self._slots = Slots()  # slot -> (product, image); product -> slots, category (index/slots.py)
        self._selectors: dict[str, faiss.IDSelector] = {}
        self._replica: faiss.Index | None = None
        self._replica_stale = True
        # How far this copy has followed its source's changes (the API's change sequence); None when unknown.
        self.position: int | None = None

    # -- building ------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, dim: int, product_ids: Sequence[str], vectors: np.ndarray, *, images: Sequence[str] | None = None,
              categories: Sequence[str | None] | None = None, kind: str = "auto",
              directory: str | Path | None = None) -> "CatalogueIndex":
        """A new index of these images (row i belongs to product_ids[i]); "auto" picks the kind by size. A
        compressed one writes its exact vectors into `directory` (where it will be saved) or a temporary file."""
        vectors = as_vectors(vectors, dim)
        if len(product_ids) != len(vectors):
            raise ValueError(f"{len(product_ids)} product ids for {len(vectors)} vectors")
        kind = kinds.choose_kind(len(vectors)) if kind == "auto" else kind
        nlist = kinds.ivf_lists(len(vectors)) if kind in kinds.APPROXIMATE else None
        exact = ExactVectors.create(dim, directory) if kind == "pq" else None
        index = cls(dim, kind=kind, nlist=nlist, exact=exact)
        if kind in kinds.APPROXIMATE:
            kinds.train(index._index, vectors)
        rows: dict[str, list[int]] = {}
        for row, product in enumerate(product_ids):
            rows.setdefault(product, []).append(row)
        slots = np.empty(len(vectors), dtype=np.int64)  # row i's slot
        with omp_threads(batch_threads()):
            for product, product_rows in rows.items():
                slots[product_rows] = index._slots.add(product, [images[r] if images else str(r) for r in product_rows],
                                                       categories[product_rows[0]] if categories else None)
            index._slots.trim()
            if index._exact is not None:
                index._exact.write(slots, vectors)
            index._index.add_with_ids(vectors, slots)
        return index

    # -- mutations -----------------------------------------------------------------------------------------

    def upsert(self, product_id: str, vectors: np.ndarray, *, images: Sequence[str] | None = None,
               category: str | None = None) -> None:
        """Make `product_id`'s images exactly these (added if new, replaced if present)."""
        vectors = as_vectors(vectors, self.dim)
        images = list(images) if images is not None else [str(i) for i in range(len(vectors))]
        if len(images) != len(vectors):
            raise ValueError(f"{len(images)} image keys for {len(vectors)} vectors of product {product_id!r}")
        if len(set(images)) != len(images):
            raise ValueError(f"product {product_id!r} has repeated image keys: {images}")
        with self._lock.writing():
            self._unregister(product_id)
            slots = self._slots.add(product_id, images, category)
            if category is not None:
                self._selectors.pop(category, None)
            if self._exact is not None:
                self._exact.write(slots, vectors)  # a new product's rows; the old ones stay, unreferenced
            self._index.add_with_ids(vectors, slots)
            self._replica_stale = True

    def add(self, product_id: str, vectors: np.ndarray, **kwargs: object) -> None:
        """Like upsert, but KeyError if the product is already indexed."""
        if product_id in self:
            raise KeyError(f"product {product_id!r} is already in the index: use update or upsert")
        self.upsert(product_id, vectors, **kwargs)  # type: ignore[arg-type]

    def update(self, product_id: str, vectors: np.ndarray, **kwargs: object) -> None:
        """Like upsert, but KeyError if the product is not indexed."""
        if product_id not in self:
            raise KeyError(f"product {product_id!r} is not in the index: use add or upsert")
        self.upsert(product_id, vectors, **kwargs)  # type: ignore[arg-type]

    def remove(self, product_id: str) -> bool:
        """Remove a product and all its images; False if it was not indexed."""
        with self._lock.writing():
            return self._unregister(product_id)

    def _unregister(self, product_id: str) -> bool:
        removed = self._slots.remove(product_id)
        if removed is None:
            return False
        slots, category = removed
        self._index.remove_ids(slots)
        if category is not None:
            self._selectors.pop(category, None)
        self._replica_stale = True
        return True

    # -- queries -------------------------------------------------------------------------------------------

    def search(self, query: np.ndarray | Sequence[float], k: int = 10, *, category: str | None = None,
               exclude: Iterable[str] = ()) -> list[Hit]:
        """The k products most similar to `query`, best first; one OpenMP thread (a single query)."""
        with omp_threads(1):
            return self._search(as_vectors(query, self.dim), k, category, _ids(exclude))[0]

    def search_many(self, queries: np.ndarray, k: int = 10, *, category: str | None = None,
                    exclude: Iterable[str] = ()) -> list[list[Hit]]:
        """`search` for each row of `queries`, on every core."""
        with omp_threads(batch_threads()):
            return self._search(as_vectors(queries, self.dim), k, category, _ids(exclude))

    def _search(self, queries: np.ndarray, k: int, category: str | None, exclude: set[str]) -> list[list[Hit]]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        with self._lock.reading():
            if self._index.ntotal == 0:
                return [[] for _ in queries]
            fetch = (k + len(exclude)) * self._slots.most_images
            fetch = min(self._index.ntotal, max(fetch, self.rerank or 0))
            # A category filter runs on the CPU master: GPU indexes do not take FAISS's ID selectors.
            searcher = self._index if category is not None else self._searcher()
            scores, slots = searcher.search(queries, fetch, params=self._params(category))
            if self._exact is not None and self.rerank:
                scores, slots = self._exact.rerank(queries, slots)
            return [self._hits(row_scores, row_slots, k, exclude) for row_scores, row_slots in zip(scores, slots)]

    def _searcher(self) -> faiss.Index:
        if self._replica_stale:
            self._replica, self._replica_stale = search_replica(self._index), False
        return self._replica or self._index

    def _params(self, category: str | None) -> faiss.SearchParameters | None:
        selector = None
        if category is not None:
            selector = self._selectors.get(category)
            if selector is None:
                selector = self._selectors[category] = faiss.IDSelectorBatch(self._slots.in_category(category))
        if self.kind in kinds.APPROXIMATE:
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def _hits(self, scores: np.ndarray, slots: np.ndarray, k: int, exclude: set[str]) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set(exclude)
        for score, (product, slot) in zip(scores.tolist(), self._slots.named(slots)):
            if product not in seen:
                seen.add(product)
                hits.append(Hit(product, score, self._slots.image_of(slot)))
                if len(hits) == k:
                    break
        return hits

    # -- persistence (index/persist.py writes these two parts) ---------------------------------------------

    def snapshot(self) -> tuple[dict, dict[str, np.ndarray], faiss.Index]:
        """(metadata as JSON-able dict, the slots' arrays, the FAISS index); hold `reading()` while they are
        written."""
        return {
            "dim": self.dim, "kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe,
            "next_slot": self._slots.next_slot, "most_images": self._slots.most_images, "position": self.position,
        }, self._slots.arrays(), self._index

    def reading(self) -> ContextManager[None]:
        """Hold off mutations (not searches) for the duration, e.g. while the index is written to disk."""
        return self._lock.reading()

    @property
    def exact_vectors(self) -> ExactVectors | None:
        """The compressed kind's file of exact vectors (None for the others), which a save keeps beside the index."""
        return self._exact

    @classmethod
    def restore(cls, meta: dict, arrays: dict[str, np.ndarray] | None, faiss_index: faiss.Index,
                exact: ExactVectors | None = None) -> "CatalogueIndex":
        """`arrays`: the slots' arrays; None for a file of the first format, whose metadata lists them."""
        if meta["kind"] == "pq" and exact is None:
            raise ValueError("a compressed index needs its file of exact vectors: rebuild it from the database")
        # How many candidates to re-rank is today's setting, not the one a file saved before it names ("rerank").
        index = cls(meta["dim"], kind=meta["kind"], nlist=meta["nlist"], nprobe=meta["nprobe"], faiss_index=faiss_index,
                    exact=exact)
        if arrays is None:
            index._slots = Slots.from_lists(meta["products"], meta["categories"], meta["slots"], meta["images"],
                                            meta["next_slot"], meta["most_images"])
        else:
            index._slots = Slots.from_arrays(arrays, meta["next_slot"], meta["most_images"])
        index.position = meta.get("position")
        if index._slots.live != faiss_index.ntotal:
            raise ValueError(f"the index file is inconsistent: {index._slots.live} images in its metadata, "
                             f"{faiss_index.ntotal} vectors in its FAISS index")
        return index

    # -- inspection ----------------------------------------------------------------------------------------

    def __contains__(self, product_id: object) -> bool:
        # Under the lock like every read of the slots: a lookup reads several arrays that a change replaces.
        with self._lock.reading():
            return product_id in self._slots

    def __len__(self) -> int:
        """Number of products."""
        return len(self._slots)

    @property
    def n_vectors(self) -> int:
        return int(self._index.ntotal)

    def memory_bytes(self) -> int:
        """The FAISS index's own size (vectors or codes, ids, trained parts); the id maps here come on top."""
        with self._lock.reading():
            return kinds.memory_bytes(self._index)

    def disk_bytes(self) -> int:
        """The compressed kind's exact vectors on disk (removed products' rows included until a rebuild); else 0."""
        return self._exact.disk_bytes() if self._exact is not None else 0

    def outgrown(self) -> str | None:
        """Why this index should be built again for its present size (index/kinds.py `outgrown`), or None."""
        rows = self._exact.rows if self._exact is not None else 0
        return kinds.outgrown(self.kind, self.nlist, self.n_vectors, rows)

    def map_bytes(self) -> int:
        """What the slots' bookkeeping holds (index/slots.py), beside the FAISS index's own `memory_bytes`."""
        with self._lock.reading():
            return self._slots.memory_bytes()

    def products(self) -> list[str]:
        with self._lock.reading():
            return self._slots.products()

    def category_of(self, product_id: str) -> str | None:
        with self._lock.reading():
            return self._slots.category_of(product_id)

    def vectors_of(self, product_id: str) -> dict[str, np.ndarray]:
        """The stored (normalised) vector of each image of a product, by image key (the compressed kind reads its
        exact vectors' file)."""
        with self._lock.reading():
            slots = self._slots.slots_of(product_id)
            images = [self._slots.image_of(s) for s in slots]
            if self._exact is not None:
                return dict(zip(images, self._exact.read(slots)))
            return {image: self._index.reconstruct(int(s)) for image, s in zip(images, slots)}
