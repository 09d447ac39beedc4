"""A shop's catalogue kept in step across MongoDB (products, images, embeddings) and its FAISS index.

Writes go database first, index second, and undo the database write if the index write fails; the index is
saved to disk after each change. Should the two still disagree (a crash between the writes, an index file
lost), the first use of a shop's index in a process compares it with the database and rebuilds it from the
stored embeddings, without calling the models.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient, InferenceError
from api.core.remembered import Remembered
from api.data import images, products
from api.domain.errors import SkuTaken, model_refusal
from api.intake.photo import Photo, check
from api.schemas import Crop
from index import CatalogueIndex, CatalogueStore, Hit


# A product changed through this process is forgotten at once; one changed by another process (the WooCommerce
# worker renaming a product) shows its old fields in similar-items answers for about PRODUCT_REFRESH_S on a busy
# process (a remembered product is reloaded in the background once it is that old), PRODUCT_CACHE_S at most.
PRODUCT_REFRESH_S = 5.0
PRODUCT_CACHE_S = 60.0


class Catalogues:
    """The index store as the API uses it: each shop's catalogue (its id is the account id) checked against the
    database before use, and reloaded when another process (the WooCommerce worker) saved it meanwhile."""

    def __init__(self, store: CatalogueStore) -> None:
        self.store = store
        self._seen: dict[str, int | None] = {}  # catalogue -> mtime of the file this process last loaded or wrote
        self._locks: dict[str, asyncio.Lock] = {}
        self._products: Remembered[tuple[str, str], dict] = Remembered(  # (shop, id) -> product
            PRODUCT_CACHE_S, refresh_after_s=PRODUCT_REFRESH_S)

    def lock(self, account_id: str) -> asyncio.Lock:
        # One writer per shop at a time: concurrent upserts and saves of one index must not interleave.
        return self._locks.setdefault(account_id, asyncio.Lock())

    def _mtime(self, catalogue: str) -> int | None:
        try:
            return self.store.path(catalogue).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    async def index(self, db: AsyncDatabase, account_id: str) -> CatalogueIndex | None:
        """The shop's index, made to agree with the database first when it may not."""
        if account_id in self._seen and self._seen[account_id] == self._mtime(account_id):
            return self.store.get(account_id)
        async with self.lock(account_id):
            mtime = self._mtime(account_id)
            if account_id in self._seen and mtime is not None:
                await asyncio.to_thread(self.store.reload, account_id)  # written by another process
                self._products.clear()  # which may have changed products too
            current = await asyncio.to_thread(self.store.get, account_id)
            indexed = set(current.products()) if current is not None else set()
            if indexed != set(await products.ids(db, account_id)):
                current = await asyncio.to_thread(self._rebuild, account_id, await products.vectors(db, account_id))
            self._seen[account_id] = self._mtime(account_id)
        return current

    def _rebuild(self, catalogue: str, stored: list[dict]) -> CatalogueIndex | None:
        if not stored:
            self.store.drop(catalogue)
            return None
        ids = [p["_id"] for p in stored for _ in p["images"]]
        keys = [image_id for p in stored for image_id in products.image_ids(p)]
        vectors = np.asarray([vector for p in stored for vector in p["embeddings"]], dtype=np.float32)
        rebuilt = CatalogueIndex.build(vectors.shape[1], ids, vectors, images=keys)
        self.store.replace(catalogue, rebuilt)
        return rebuilt

    async def products(self, db: AsyncDatabase, account_id: str, product_ids: Sequence[str]) -> dict[str, dict]:
        """The shop's products with these ids (the ones that exist), without embeddings, as similar-items answers
        show them. Remembered (see PRODUCT_REFRESH_S): answers name the same products again and again, and
        looking ten up by id costs nx-27017 about 2 ms, and this process about 0.5 ms of CPU."""
        async def load(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
            docs = await products.get_many(db, account_id, [pid for _, pid in keys])
            return {(account_id, pid): doc for pid, doc in docs.items()}

        found = await self._products.get_many_or_load([(account_id, pid) for pid in product_ids], load)
        return {pid: doc for (_, pid), doc in found.items()}

    async def aclose(self) -> None:
        await self._products.aclose()

    def forget_product(self, account_id: str, product_id: str) -> None:
        """Call after changing a product's fields, so this process shows the change at once."""
        self._products.forget((account_id, product_id))

    async def upsert(self, db: AsyncDatabase, account_id: str, product: dict) -> None:
        await self.upsert_many(db, account_id, [product])

    async def upsert_many(self, db: AsyncDatabase, account_id: str, changed: Sequence[dict]) -> None:
        """Index these products' stored vectors (added, or replacing theirs), saving the index once."""
        if not changed:
            return
        for product in changed:
            self.forget_product(account_id, product["_id"])
        await self.index(db, account_id)

        def write() -> None:
            for product in changed:
                vectors = np.asarray(product["embeddings"], dtype=np.float32)
                index = self.store.get_or_create(account_id, vectors.shape[1])
                index.upsert(product["_id"], vectors, images=products.image_ids(product))
            self.store.save(account_id)

        async with self.lock(account_id):
            await asyncio.to_thread(write)
            self._seen[account_id] = self._mtime(account_id)

    async def rebuild(self, db: AsyncDatabase, account_id: str) -> None:
        """Build the shop's index afresh from the stored vectors (an IVF index is trained on them again)."""
        async with self.lock(account_id):
            await asyncio.to_thread(self._rebuild, account_id, await products.vectors(db, account_id))
            self._seen[account_id] = self._mtime(account_id)

    async def remove(self, db: AsyncDatabase, account_id: str, product_id: str) -> None:
        self.forget_product(account_id, product_id)
        index = await self.index(db, account_id)
        if index is None:
            return
        async with self.lock(account_id):
            if index.remove(product_id):
                await asyncio.to_thread(self.store.save, account_id)
                self._seen[account_id] = self._mtime(account_id)

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


def digest(embedder: dict | None) -> str | None:
    """An embedder identity's digest (handlers/archive.py): vectors compare only with vectors of the same one."""
    return (embedder or {}).get("digest")


async def embed(inference: InferenceClient, photos: Sequence[Photo]) -> tuple[list[np.ndarray], dict | None]:
    """One embedding per photo and the identity of the embedder that made them; the first refused photo fails
    the whole call (a product is stored whole or not)."""
    answers = await inference.embed([photo.model_input for photo in photos])
    for position, answer in enumerate(answers):
        if isinstance(answer, InferenceError):
            raise model_refusal(answer.status, answer.message).about(f"image {position + 1}")
    return answers, inference.embedder


async def embed_checked(inference: InferenceClient, data: bytes, crop: Crop | None, max_bytes: int) -> tuple[np.ndarray, dict | None]:
    """The embedding of one photo that is checked meanwhile (see api/domain/annotations.py for why that is safe), and
    the identity of the embedder that made it."""
    if crop is not None:
        photo = await check(data, crop, max_bytes)
        vectors, embedder = await embed(inference, [photo])
        return vectors[0], embedder
    async def ask() -> tuple[np.ndarray | InferenceError, dict | None]:
        answer = (await inference.embed([data]))[0]
        return answer, inference.embedder  # read at once: other requests' answers may change it later

    # The model's request is started first, so that it is on its way before this process decodes the photo.
    asking = asyncio.ensure_future(ask())
    try:
        await asyncio.sleep(0)
        await check(data, None, max_bytes)  # a refused photo is refused with our decoder's message
    finally:
        await asyncio.wait([asking])
    answer, embedder = asking.result()
    if isinstance(answer, InferenceError):
        raise model_refusal(answer.status, answer.message)
    return answer, embedder


async def create_product(db: AsyncDatabase, files: images.ImageFiles, catalogues: Catalogues, inference: InferenceClient,
                         account_id: str, fields: dict[str, Any], photos: Sequence[Photo]) -> dict:
    """Embed, store images and product, index it. SkuTaken for a taken SKU; nothing is left half-stored."""
    vectors, embedder = await embed(inference, photos)
    new = [images.new_image(account_id, p.data, p.content_type, p.width, p.height) for p in photos]
    product = products.new_product(account_id, fields, [image.document for image in new], [v.tolist() for v in vectors],
                                   digest(embedder))
    await images.insert_many(db, files, new)
    if await products.insert(db, product) is None:
        await images.delete(db, files, account_id, products.image_ids(product))
        raise SkuTaken(fields.get("sku"))
    try:
        await catalogues.upsert(db, account_id, product)
    except Exception:
        await products.delete(db, account_id, product["_id"])
        await images.delete(db, files, account_id, products.image_ids(product))
        raise
    return product


async def replace_images(db: AsyncDatabase, files: images.ImageFiles, catalogues: Catalogues, inference: InferenceClient,
                         account_id: str, product: dict, photos: Sequence[Photo]) -> dict | None:
    """Swap a product's images for new ones (re-embedded and re-indexed); the old images are deleted after."""
    vectors, embedder = await embed(inference, photos)
    new = [images.new_image(account_id, p.data, p.content_type, p.width, p.height) for p in photos]
    await images.insert_many(db, files, new)
    changes = {"images": products.image_metas([image.document for image in new]),
               "embeddings": [v.tolist() for v in vectors], "embedder": digest(embedder)}
    updated = await products.update(db, account_id, product["_id"], changes)
    if updated is None:  # deleted meanwhile
        await images.delete(db, files, account_id, products.image_ids(changes))
        return None
    await catalogues.upsert(db, account_id, {**updated, **changes})
    await images.delete(db, files, account_id, products.image_ids(product))
    return updated


async def delete_product(db: AsyncDatabase, files: images.ImageFiles, catalogues: Catalogues, account_id: str,
                         product_id: str) -> dict | None:
    deleted = await products.delete(db, account_id, product_id)
    if deleted is not None:
        await catalogues.remove(db, account_id, product_id)
        await images.delete(db, files, account_id, products.image_ids(deleted))
    return deleted
