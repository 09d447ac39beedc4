"""Making a shop's stored vectors again when the embedder that serves changes.

Every product stores the digest of the embedder that made its vectors (api/data/products.py). Vectors of two
embedders do not compare, so after a new checkpoint, or a change to how photos are framed for the model, a query
would be matched against vectors of another space. The first similar-items query of a shop that meets a digest
this process has not seen for that shop queues a `reembed` job (`note`), which a worker runs (api/jobs/reembed.py)
as a pass: the shop's products made by any other
embedder (or stored before digests were kept, or by two embedders at once) are embedded again from their stored
image files, a few at a time. Each product's new vectors (embeddings and signals) are stored as they come; the shop's index takes them in
at most every INDEX_EVERY_S seconds (a save writes the whole index file: once per batch would write a large
catalogue's index hundreds of times), and at the end the index is built afresh from the stored vectors, so an IVF
index is trained on the new ones. Queries are answered meanwhile from the index as it stands: products not yet
done rank by their old vectors. Small batches keep the pass's photos from queueing long ahead of live requests
at the model server.

The database marks a pass as begun until its rebuild is done: a pass cut off (a crash, a shutdown) leaves stored
vectors ahead of the index file, and the next pass rebuilds the index even when nothing is left to embed.

One job per shop waits at a time (the queue's `wait_key`), and a job runs under one lease. A pass stops when the
embedder changes under it or the model server fails; its job is then retried with backoff. A product whose image file is missing is left as it is and logged: its old vectors stay
searchable until a shop replaces its images.
"""
from __future__ import annotations

import logging
import time
from typing import Sequence

from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient, InferenceError
from api.data import images, jobs, products
from api.domain.catalogue import Catalogues
from api.domain.embedding import digest, vectors_of
from api.services import Services

log = logging.getLogger(__name__)

# Products per model call: few, so that a live request waits behind at most their photos at the model server.
BATCH = 8
# The longest the index goes without the vectors stored since (the end of the pass takes in the rest).
INDEX_EVERY_S = 10.0


async def note(services: Services, account_id: str, embedder: dict | None) -> None:
    """Called with the identity of the embedder that just answered a query of this shop: queues a `reembed` job
    (api/jobs/reembed.py) when this process has not checked the shop against it yet. A set lookup otherwise."""
    current = digest(embedder)
    checked = services.memory.reembed_checked
    if current is None or (account_id, current) in checked:
        return
    checked.add((account_id, current))
    if await products.count_made_by_others(services.db, account_id, current) or \
            await products.reembedding_begun(services.db, account_id):
        await jobs.enqueue_kind(services.db, "reembed", account_id, f"reembed:{account_id}",
                                f"stored vectors of another embedder than {current[:12]}", {"embedder": current})


class Reembedder:
    def __init__(self, db: AsyncDatabase, inference: InferenceClient, catalogues: Catalogues, files: images.ImageStore,
                 *, batch: int = BATCH, index_every_s: float = INDEX_EVERY_S) -> None:
        self.db, self.inference, self.catalogues, self.files = db, inference, catalogues, files
        self.batch = batch
        self.index_every_s = index_every_s

    async def reembed(self, account_id: str, current: str) -> bool:
        """Embed again the shop's products that another embedder made; True when the pass went through (a product
        whose image file is missing, or that the model now refuses, is skipped and logged), False when it stopped
        early."""
        db, inference = self.db, self.inference
        stale = await products.made_by_others(db, account_id, current)
        if not stale:
            if await products.reembedding_begun(db, account_id):  # an earlier pass was cut off before its rebuild
                await self.catalogues.rebuild(db, account_id)
                await products.end_reembedding(db, account_id)
            return True
        log.info("shop %s: re-embedding %d products made by another embedder than %s", account_id, len(stale),
                 current[:12])
        await products.begin_reembedding(db, account_id, current)
        redone = skipped = 0
        unindexed: list[dict] = []  # stored with their new vectors, not yet in the index
        indexed_at = time.monotonic()
        for start in range(0, len(stale), self.batch):
            photos = await self._photos(account_id, stale[start : start + self.batch])
            skipped += sum(1 for _, data in photos if data is None)
            photos = [(product, data) for product, data in photos if data is not None]
            if not photos:
                continue
            answers = await inference.embed([photo for _, data in photos for photo in data])
            if digest(inference.embedder) != current:
                log.info("shop %s: the embedder changed during its re-embedding; it is tried again",
                         account_id)
                await self.catalogues.upsert_many(db, account_id, unindexed)
                return False
            failed = next((a for a in answers if isinstance(a, InferenceError) and a.status >= 500), None)
            if failed is not None:
                log.warning("shop %s: the model server failed while re-embedding (%s); it is tried again",
                            account_id, failed)
                await self.catalogues.upsert_many(db, account_id, unindexed)
                return False
            position = 0
            for product, data in photos:
                answered = answers[position : position + len(data)]
                position += len(data)
                refused = next((a for a in answered if isinstance(a, InferenceError)), None)
                if refused is not None:  # a stored image the model now refuses: the product cannot be redone
                    log.warning("shop %s: product %s keeps its old vectors: the model refused its image (%s)",
                                account_id, product["_id"], refused)
                    skipped += 1
                    continue
                vectors = vectors_of(answered, inference.embedder)
                # Stored first, and only while the product still has another embedder's vectors: a product whose
                # images the shop replaced meanwhile keeps the vectors (and index entry) that replacement made.
                if await products.set_embeddings(db, account_id, product["_id"], vectors):
                    unindexed.append({**product, **vectors})
                    redone += 1
            if time.monotonic() - indexed_at >= self.index_every_s:
                await self.catalogues.upsert_many(db, account_id, unindexed)
                unindexed, indexed_at = [], time.monotonic()
        await self.catalogues.rebuild(db, account_id)
        await products.end_reembedding(db, account_id)
        log.info("shop %s: re-embedded %d products; %d kept their old vectors (see the warnings)", account_id, redone,
                 skipped)
        return True

    async def _photos(self, account_id: str, batch: Sequence[dict]) -> list[tuple[dict, list[bytes] | None]]:
        """Each product with its stored images' bytes in its own order, or None when one of them is missing."""
        found = await images.get_many(self.db, account_id, [i for product in batch for i in products.image_ids(product)])
        out: list[tuple[dict, list[bytes] | None]] = []
        for product in batch:
            try:
                out.append((product, [await self.files.load(found[i]) for i in products.image_ids(product)]))
            except (KeyError, images.ImageFileError) as error:
                log.warning("shop %s: product %s keeps its old vectors: a stored image is missing (%s)",
                            account_id, product["_id"], error)
                out.append((product, None))
        return out
