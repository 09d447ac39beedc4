"""A shop's catalogue kept in step across MongoDB (products, images, embeddings) and each process's FAISS index.

MongoDB is the source of truth for vectors; each process's index directory is a cache of its own, shared with no
other host. A change of a product's vectors is written to the database and numbered in the shop's change sequence
(api/data/changes.py); every process holding the shop's index follows that sequence: before a search, at most every
CHECK_EVERY_S, it reads the changes after its copy's number and makes each named product what the database holds
now, saving its copy with the number reached (a large copy at most every SAVE_EVERY_S, and at shutdown). A
process with no copy (a new replica, a lost directory), or one too far behind, builds the index from the stored
vectors, without calling the models; an index its shop outgrew is built again in the background
(`Catalogues._reshape`). A process that never searches a shop (the worker) builds no index of it. This class is
the one place an index is changed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Sequence

import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient
from api.core.remembered import Remembered
from api.data import accounts, changes, images, products
from api.domain.embedding import Made, embed, vectors_of
from api.domain.errors import AccountGone, DomainError
from api.intake.photo import Photo
from index import CatalogueIndex, CatalogueStore, Hit

log = logging.getLogger(__name__)

# A product changed through this process is forgotten at once; one changed by another process (the WooCommerce
# worker renaming a product) shows its old fields in similar-items answers for about PRODUCT_REFRESH_S on a busy
# process (a remembered product is reloaded in the background once it is that old), PRODUCT_CACHE_S at most.
PRODUCT_REFRESH_S = 5.0
PRODUCT_CACHE_S = 60.0
SIGNALS_CACHE_S = 600.0
# A search asks the database for the shop's new changes at most this often (one indexed query): a product changed
# through another replica is found here within about this long.
CHECK_EVERY_S = 0.5
CHANGES_PER_READ = 2_000
# A catch-up saves the shop's copy at once while it is small (50,000 flat vectors: 0.12 s), else at most this often
# (200,000: 0.85 s a save, measured on this machine under load; an import would keep a large copy saving). A copy
# not saved yet is saved at shutdown; after a crash the replica reads the changes after its file's number again.
SAVE_EVERY_S = 60.0
SAVE_AT_ONCE_BELOW = 50_000
# A change logged with this product id stands for every product of the shop (a re-embedding's rebuild).
EVERY_PRODUCT = "*"


class Catalogues:
    """The index store as the API uses it: each shop's catalogue (its id is the account id) following the shop's
    change sequence in the database."""

    def __init__(self, store: CatalogueStore, *, check_every_s: float = CHECK_EVERY_S) -> None:
        self.store = store
        self.check_every_s = check_every_s
        self._checked: dict[str, float] = {}  # shop -> when this process last read its changes (monotonic)
        self._empty_at: dict[str, int] = {}  # shop without vectors -> the number its emptiness was read at
        self._locks: dict[str, asyncio.Lock] = {}
        self._reshaping: dict[str, asyncio.Task] = {}  # shop -> its index being built again for its size
        self._saved: dict[str, float] = {}  # shop -> when its copy was last saved after a catch-up (monotonic)
        self._unsaved: set[str] = set()  # shops whose copy holds changes its file lacks
        self._products: Remembered[tuple[str, str], dict] = Remembered(  # (shop, id) -> product
            PRODUCT_CACHE_S, refresh_after_s=PRODUCT_REFRESH_S)
        # (shop, id) -> {image id: signals}. A photo's signals never change (new photos get new ids; a new model
        # rebuilds every index, which clears them), so they are kept without refreshing ahead.
        self._signals: Remembered[tuple[str, str], dict] = Remembered(SIGNALS_CACHE_S)

    def lock(self, account_id: str) -> asyncio.Lock:
        # One writer per shop at a time: catching up and saving one index must not interleave.
        return self._locks.setdefault(account_id, asyncio.Lock())

    async def index(self, db: AsyncDatabase, account_id: str) -> CatalogueIndex | None:
        """The shop's index, caught up with the database's changes when it was not checked lately."""
        checked = self._checked.get(account_id)
        if checked is not None and time.monotonic() - checked < self.check_every_s:
            return self.store.get(account_id)
        return await self.catch_up(db, account_id)

    async def catch_up(self, db: AsyncDatabase, account_id: str) -> CatalogueIndex | None:
        """Apply the shop's changes after this copy's number; build the index from the database when there is no
        copy, or the changes it needs are lost."""
        async with self.lock(account_id):
            current = await asyncio.to_thread(self._local_copy, account_id)
            seq = current.position if current is not None else self._empty_at.get(account_id)
            while seq is not None:
                entries = await changes.since(db, account_id, seq, CHANGES_PER_READ)
                following, after_gap = changes.in_order(entries, seq)
                if any(entry["product"] == EVERY_PRODUCT for entry in following) or \
                        (after_gap is not None and changes.gap_is_lost(after_gap)):
                    seq = None
                    break
                if following:
                    seq = following[-1]["seq"]
                    current = await self._apply(db, account_id, [entry["product"] for entry in following], seq)
                if after_gap is not None or len(entries) < CHANGES_PER_READ:
                    break
            if seq is None:
                current = await self._rebuild(db, account_id)
            self._checked[account_id] = time.monotonic()
        if current is not None and account_id not in self._reshaping and (why := current.outgrown()):
            self._reshaping[account_id] = asyncio.create_task(self._reshape(db, account_id, why))
        return current

    async def _reshape(self, db: AsyncDatabase, account_id: str, why: str) -> None:
        """Build the shop's index again from the database for its present size while the one it outgrew answers
        searches; swap it in, then catch it up with the changes made meanwhile. (A build holds both in memory
        for a while: at 1M vectors about 140 MB of codes beside the old index.)"""
        try:
            log.info("shop %s: its index is built again (%s)", account_id, why)
            started = time.monotonic()
            seq = await changes.position(db, account_id)
            stored = await products.vectors(db, account_id)
            fresh = await asyncio.to_thread(self._fresh, account_id, stored, seq)
            async with self.lock(account_id):
                if fresh is not None:
                    await asyncio.to_thread(self.store.replace, account_id, fresh)
                    self._was_saved(account_id)
                self._checked.pop(account_id, None)
            current = await self.catch_up(db, account_id)
            log.info("shop %s: its index is now %s (%d vectors, built in %.1f s)", account_id,
                     current.kind if current else "empty", current.n_vectors if current else 0,
                     time.monotonic() - started)
        except Exception:  # the old index goes on answering; the next catch-up tries again
            log.exception("shop %s: building its index again failed", account_id)
        finally:
            self._reshaping.pop(account_id, None)

    async def reshaped(self, account_id: str) -> None:
        """Wait for the shop's index being built again, if it is (tests, and a clean shutdown)."""
        task = self._reshaping.get(account_id)
        if task is not None:
            await asyncio.wait([task])

    def _local_copy(self, account_id: str) -> CatalogueIndex | None:
        """This replica's copy of the shop's index, or None when its files cannot be read (torn, or a compressed
        index's exact vectors lost): the files are a cache, and the database rebuilds them."""
        try:
            return self.store.get(account_id)
        except ValueError as error:
            log.warning("shop %s: its index files cannot be read (%s); rebuilding from the database", account_id, error)
            return None

    async def _apply(self, db: AsyncDatabase, account_id: str, product_ids: list[str], seq: int) -> CatalogueIndex | None:
        product_ids = list(dict.fromkeys(product_ids))
        stored = {p["_id"]: p for p in await products.vectors(db, account_id, product_ids)}
        for product_id in product_ids:
            self.forget_product(account_id, product_id)

        def write() -> CatalogueIndex | None:
            index = self.store.get(account_id)
            for product_id in product_ids:
                product = stored.get(product_id)
                if product is None:
                    if index is not None:
                        index.remove(product_id)
                    continue
                vectors = np.asarray(product["embeddings"], dtype=np.float32)
                if index is not None and index.dim != vectors.shape[1]:  # refused when written; a re-embedding's
                    log.warning("shop %s: product %s has %d-d vectors in a %d-d index; left out until the index is "
                                "rebuilt", account_id, product_id, vectors.shape[1], index.dim)
                    continue
                index = self.store.get_or_create(account_id, vectors.shape[1])
                index.upsert(product_id, vectors, images=products.image_ids(product))
            if index is None:
                self._empty_at[account_id] = seq
                return None
            index.position = seq
            now = time.monotonic()
            if index.n_vectors < SAVE_AT_ONCE_BELOW or now - self._saved.get(account_id, -SAVE_EVERY_S) >= SAVE_EVERY_S:
                self.store.save(account_id)
                self._was_saved(account_id)
            else:
                self._unsaved.add(account_id)
            return index

        return await asyncio.to_thread(write)

    async def _rebuild(self, db: AsyncDatabase, account_id: str) -> CatalogueIndex | None:
        # The number first, the vectors after: every change numbered up to it is in what is read (the database is
        # written before the number); later ones are applied again harmlessly at the next catch-up.
        seq = await changes.position(db, account_id)
        stored = await products.vectors(db, account_id)
        self._products.clear()
        self._signals.clear()
        rebuilt = await asyncio.to_thread(self._build, account_id, stored, seq)
        log.info("shop %s: index built from the database at change %d (%d products)", account_id, seq, len(stored))
        return rebuilt

    def _build(self, catalogue: str, stored: list[dict], seq: int) -> CatalogueIndex | None:
        rebuilt = self._fresh(catalogue, stored, seq)
        if rebuilt is None:
            self.store.drop(catalogue)
            self._empty_at[catalogue] = seq
            return None
        self._empty_at.pop(catalogue, None)
        self.store.replace(catalogue, rebuilt)
        self._was_saved(catalogue)
        return rebuilt

    def _was_saved(self, account_id: str) -> None:
        self._saved[account_id] = time.monotonic()
        self._unsaved.discard(account_id)

    def _fresh(self, catalogue: str, stored: list[dict], seq: int) -> CatalogueIndex | None:
        """A new index of the stored vectors, of the kind their number calls for, at change `seq`; None if none."""
        if not stored:
            return None
        ids = [p["_id"] for p in stored for _ in p["images"]]
        keys = [image_id for p in stored for image_id in products.image_ids(p)]
        vectors = np.asarray([vector for p in stored for vector in p["embeddings"]], dtype=np.float32)
        # A compressed index writes its exact vectors straight into the catalogue's directory (index/exact_vectors.py).
        fresh = CatalogueIndex.build(vectors.shape[1], ids, vectors, images=keys,
                                     directory=self.store.directory(catalogue))
        fresh.position = seq
        return fresh

    async def check_dim(self, db: AsyncDatabase, account_id: str, dim: int) -> None:
        """ValueError when the shop's index holds vectors of another dimension than `dim` (refused before any write,
        since every replica would have to leave such a product out). Read from this process's copy when it follows
        the shop (it searches it), else from one of the shop's products: a process that only writes (the worker, an
        import) then builds no index of its own, which it would have caught up and saved at every product."""
        copy = self.store.get(account_id) if account_id in self._checked else None
        held = copy.dim if copy is not None else await products.vector_dim(db, account_id)
        if held is not None and held != dim:
            raise ValueError(f"catalogue {account_id!r} holds {held}-d vectors, not {dim}-d: reindex it")

    async def products(self, db: AsyncDatabase, account_id: str, product_ids: Sequence[str], *,
                       refresh_ahead: bool = True) -> dict[str, dict]:
        """The shop's products with these ids (the ones that exist), without embeddings, as similar-items answers
        show them. Remembered (see PRODUCT_REFRESH_S): answers name the same products again and again, and
        looking ten up by id costs nx-27017 about 2 ms, and this process about 0.5 ms of CPU. `refresh_ahead=False`
        (text search, which reads dozens of candidates a query): a product is read again only once PRODUCT_CACHE_S
        old; the background reads cost its p50 at 100,000 products on nx-27017 as much as all its other work
        (docs/benchmarks.md, "Text search")."""
        async def load(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
            docs = await products.get_many(db, account_id, [pid for _, pid in keys])
            return {(account_id, pid): doc for pid, doc in docs.items()}

        found = await self._products.get_many_or_load([(account_id, pid) for pid in product_ids], load,
                                                      refresh_ahead=refresh_ahead)
        return {pid: doc for (_, pid), doc in found.items()}

    async def hit_signals(self, db: AsyncDatabase, account_id: str, hits: Sequence[Hit]) -> np.ndarray | None:
        """[len(hits), S]: the stored signals (handlers/signals.py) of each hit's matching photo (`Hit.image`), for
        text search to score them in the joint space; None when one has none (a product stored before products kept
        signals, or by a model without them): then every hit is scored by its embedding alone. Remembered: read from
        nx-27017 on every query they made a 100,000-product shop's text search p50 31 ms against 20 ms
        (docs/benchmarks.md, "Text search")."""
        async def load(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
            found = await products.signals_by_image(db, account_id, [pid for _, pid in keys])
            return {(account_id, pid): by_image for pid, by_image in found.items()}

        keys = [(account_id, h.product_id) for h in hits]
        found = await self._signals.get_many_or_load(keys, load)
        if stale := [key for key, h in zip(keys, hits) if key in found and h.image not in found[key]]:
            for key in stale:  # the product's photos changed since: read it again
                self._signals.forget(key)
            found.update(await self._signals.get_many_or_load(stale, load))
        rows = [found.get(key, {}).get(h.image) for key, h in zip(keys, hits)]
        if not rows or any(row is None for row in rows) or len({len(row) for row in rows}) != 1:
            return None
        return np.asarray(rows, dtype=np.float32)

    async def aclose(self) -> None:
        for task in list(self._reshaping.values()):
            task.cancel()
        await asyncio.gather(*self._reshaping.values(), return_exceptions=True)
        for account_id in list(self._unsaved):
            async with self.lock(account_id):
                if self.store.get(account_id) is not None:
                    await asyncio.to_thread(self.store.save, account_id)
                self._was_saved(account_id)
        await self._products.aclose()
        await self._signals.aclose()

    def forget_product(self, account_id: str, product_id: str) -> None:
        """Call after changing a product's fields, so this process shows the change at once."""
        self._products.forget((account_id, product_id))
        self._signals.forget((account_id, product_id))

    async def upsert(self, db: AsyncDatabase, account_id: str, product: dict) -> None:
        await self.upsert_many(db, account_id, [product])

    async def upsert_many(self, db: AsyncDatabase, account_id: str, changed: Sequence[dict]) -> None:
        """These products' vectors were stored (added, or replacing theirs): number the change, and show it here
        at once when this process holds the shop's index (a process that never searches it builds none)."""
        await self.changed(db, account_id, [product["_id"] for product in changed])

    async def remove(self, db: AsyncDatabase, account_id: str, product_id: str) -> None:
        """The product was deleted from the database."""
        await self.changed(db, account_id, [product_id])

    async def rebuild(self, db: AsyncDatabase, account_id: str) -> None:
        """Every replica builds the shop's index afresh from the stored vectors (an IVF index is trained again)."""
        await self.changed(db, account_id, [EVERY_PRODUCT])

    async def changed(self, db: AsyncDatabase, account_id: str, product_ids: Sequence[str]) -> None:
        if not product_ids:
            return
        for product_id in product_ids:
            self.forget_product(account_id, product_id)
        await changes.record(db, account_id, product_ids)
        if account_id in self._checked:
            await self.catch_up(db, account_id)

    async def search(self, db: AsyncDatabase, account_id: str, vector: np.ndarray, k: int) -> list[Hit]:
        index = await self.index(db, account_id)
        return [] if index is None else await _search(index, vector, k)

    async def search_catalogue(self, catalogue: str, vector: np.ndarray, k: int) -> list[Hit] | None:
        """A catalogue that is not a shop's (the demo gallery): searched as it is on disk; None when there is none."""
        index = await asyncio.to_thread(self.store.get, catalogue)
        return None if index is None else await _search(index, vector, k)


# Below this many vectors an exact search takes well under a millisecond: cheaper on the event loop than the
# thread hand-off; larger indexes are searched in a worker thread so the loop keeps serving other requests.
INLINE_SEARCH_VECTORS = 20_000


async def _search(index: CatalogueIndex, vector: np.ndarray, k: int) -> list[Hit]:
    if index.n_vectors < INLINE_SEARCH_VECTORS:
        return index.search(vector, k)
    return await asyncio.to_thread(index.search, vector, k)


async def create_product(db: AsyncDatabase, files: images.ImageStore, catalogues: Catalogues, inference: InferenceClient,
                         account_id: str, fields: dict[str, Any], photos: Sequence[Photo], made: Made | None = None
                         ) -> dict:
    """Embed (unless `made`), store images and product, index it. SkuTaken for a taken SKU, StoreEntryTaken for a
    store product's entry made meanwhile (api/data/products.py `insert`); nothing is left half-stored."""
    answers, embedder = await embed(inference, photos, made)
    await catalogues.check_dim(db, account_id, len(answers[0].vector))
    new = [images.new_image(account_id, p.data, p.content_type, p.width, p.height) for p in photos]
    product = products.new_product(account_id, fields, [image.document for image in new], vectors_of(answers, embedder))
    await images.insert_many(db, files, new)
    try:
        await products.insert(db, product)
    except DomainError:
        await images.delete(db, files, account_id, products.image_ids(product))
        raise
    if not await accounts.open_for_writes(db, account_id):  # deleted while the photos were fetched and embedded
        await products.delete(db, account_id, product["_id"])
        await images.delete(db, files, account_id, products.image_ids(product))
        raise AccountGone()
    try:
        await catalogues.upsert(db, account_id, product)
    except Exception:
        await products.delete(db, account_id, product["_id"])
        await images.delete(db, files, account_id, products.image_ids(product))
        await changes.record(db, account_id, [product["_id"]])  # replicas that took it in drop it again
        raise
    return product


async def replace_images(db: AsyncDatabase, files: images.ImageStore, catalogues: Catalogues, inference: InferenceClient,
                         account_id: str, product: dict, photos: Sequence[Photo], made: Made | None = None
                         ) -> dict | None:
    """Swap a product's images for new ones (re-embedded unless `made`, and re-indexed); the old images are deleted
    after."""
    answers, embedder = await embed(inference, photos, made)
    await catalogues.check_dim(db, account_id, len(answers[0].vector))
    new = [images.new_image(account_id, p.data, p.content_type, p.width, p.height) for p in photos]
    await images.insert_many(db, files, new)
    replaced = {"images": products.image_metas([image.document for image in new]), **vectors_of(answers, embedder)}
    updated = await products.update(db, account_id, product["_id"], replaced)
    if updated is None:  # deleted meanwhile
        await images.delete(db, files, account_id, products.image_ids(replaced))
        return None
    await catalogues.upsert(db, account_id, {**updated, **replaced})
    await images.delete(db, files, account_id, products.image_ids(product))
    return updated


async def delete_product(db: AsyncDatabase, files: images.ImageStore, catalogues: Catalogues, account_id: str,
                         product_id: str) -> dict | None:
    deleted = await products.delete(db, account_id, product_id)
    if deleted is not None:
        await catalogues.remove(db, account_id, product_id)
        await images.delete(db, files, account_id, products.image_ids(deleted))
    return deleted
