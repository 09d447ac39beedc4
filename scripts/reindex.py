"""The operator's batch reindex of one catalogue: reader → embedder → writer, each injected.

    python -m scripts.reindex DATA_DIR --catalogue ID [--indexes var/indexes]
        [--torchserve URL | --model-store DIR | --checkpoint DIR] [--batch-size 32] [--concurrency 4]

Reads the catalogue's images (a shared-data-layout directory here; any `CatalogueReader`), embeds them in batches
through the inference client with several batches in flight, journals every batch beside the index
(`<indexes>/<id>/reindex.journal`), then builds the index (exact or IVF by size) and swaps it in atomically.
Run it again after an interruption and it carries on from the journal: no image is embedded twice.

Exit status: 0 all indexed; 3 done, but some images were unreadable and skipped (listed in the summary);
1 stopped because the embedder failed (5xx / unreachable): fix it and rerun to resume.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from api.clients.inference import InferenceClient, InferenceError
from handlers.openmp_pool import bound_openmp_spinning
from index import CatalogueIndex, CatalogueStore
from kalas.dataset import iter_batches
from kalas.journal import Journal
from kalas.readers import CatalogueItem, CatalogueReader, DirectoryReader

JOURNAL = "reindex.journal"
EXIT_SKIPPED = 3
EXIT_ABORTED = 1


class EmbedderFailed(RuntimeError):
    """The embedder itself failed (not one image): stop, keep the journal, resume later."""


@dataclass
class Summary:
    catalogue: str
    products: int = 0
    images: int = 0
    embedded: int = 0  # in this run
    resumed: int = 0  # taken from the journal of an interrupted run
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0
    index_kind: str = ""
    index_path: str = ""

    def lines(self) -> list[str]:
        out = [f"catalogue {self.catalogue}: {self.products} products, {self.images} images -> {self.index_path} "
               f"({self.index_kind})",
               f"embedded {self.embedded} in {self.seconds:.1f} s ({self.images_per_second:.1f} images/s), "
               f"{self.resumed} from an earlier run's journal, {len(self.skipped)} skipped"]
        out += [f"  skipped {s['product']}/{s['image']}: {s['reason']}" for s in self.skipped]
        return out


async def reindex(reader: CatalogueReader, client: InferenceClient, store: CatalogueStore, catalogue_id: str, *,
                  batch_size: int = 32, concurrency: int = 4, progress: bool = True) -> Summary:
    """Embed what the journal lacks, build the catalogue's index from the journal, swap it in, drop the journal."""
    items = list(reader)
    if len({item.key for item in items}) != len(items):
        raise ValueError(f"the catalogue lists some (product, image) pairs more than once ({len(items)} items)")
    journal = Journal(store.directory(catalogue_id) / JOURNAL)
    summary = Summary(catalogue_id, images=len(items))
    todo = [item for item in items if item.key not in journal.entries]
    summary.resumed = len(items) - len(todo)
    bar = tqdm(total=len(items), initial=summary.resumed, unit="img", desc=f"reindex {catalogue_id}",
               disable=not progress, smoothing=0.1)
    batches = iter(list(iter_batches(todo, batch_size)))
    started = time.perf_counter()

    async def worker() -> None:
        for batch in batches:  # one shared iterator: each batch is taken by exactly one worker
            await _embed_batch(batch, client, journal)
            summary.embedded += len(batch)
            bar.update(len(batch))

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        bar.close()
        journal.close()
    summary.seconds = time.perf_counter() - started
    summary.embedded -= sum(1 for i in todo if journal.entries[i.key].vector is None)
    summary.images_per_second = summary.embedded / summary.seconds if summary.seconds else 0.0
    index = _build(items, journal, summary, store.directory(catalogue_id))
    summary.index_path = str(store.replace(catalogue_id, index))
    summary.index_kind = index.kind
    journal.remove()
    return summary


async def _embed_batch(batch: list[CatalogueItem], client: InferenceClient, journal: Journal) -> None:
    payloads = await asyncio.gather(*(asyncio.to_thread(item.read) for item in batch), return_exceptions=True)
    readable = [(item, data) for item, data in zip(batch, payloads) if not isinstance(data, BaseException)]
    for item, data in zip(batch, payloads):
        if isinstance(data, BaseException):
            journal.skip(item.key, item.category, f"could not read the image: {type(data).__name__}: {data}")
    results = await client.embed([data for _, data in readable]) if readable else []
    failures = [r for r in results if isinstance(r, InferenceError) and r.status >= 500]
    if failures:
        journal.sync()
        raise EmbedderFailed(f"the embedder failed ({failures[0]}); the journal keeps what was done: rerun to resume")
    for (item, _), result in zip(readable, results):
        if isinstance(result, InferenceError):
            journal.skip(item.key, item.category, f"refused by the embedder: {result.message}")
        else:
            journal.record(item.key, item.category, result.vector)
    journal.sync()


def _build(items: list[CatalogueItem], journal: Journal, summary: Summary, directory: Path) -> CatalogueIndex:
    kept = []
    for item in items:
        entry = journal.entries[item.key]
        if entry.vector is None:
            summary.skipped.append({"product": item.product_id, "image": item.image, "reason": entry.skipped})
        else:
            kept.append((item, entry))
    if not kept:
        raise ValueError(f"no image of catalogue {summary.catalogue!r} could be embedded; the index is left as it was")
    vectors = np.stack([entry.vector for _, entry in kept])
    summary.products = len({item.product_id for item, _ in kept})
    return CatalogueIndex.build(vectors.shape[1], [i.product_id for i, _ in kept], vectors,
                                images=[i.image for i, _ in kept], categories=[e.category for _, e in kept],
                                directory=directory)


def open_client(args: argparse.Namespace) -> InferenceClient:
    # Before torch is first imported (an in-process client loads it): an in-process reindex shares the machine
    # gracefully (handlers/openmp_pool.py).
    bound_openmp_spinning()
    from api.clients.inference import TorchServeClient
    from api.clients.in_process import InProcessClient

    if args.torchserve:
        return TorchServeClient(args.torchserve)
    if args.model_store:
        return InProcessClient.from_model_store(args.model_store)
    return InProcessClient.from_checkpoints(args.checkpoint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="a directory in the shared-data layout (images/ + labels.csv)")
    parser.add_argument("--catalogue", required=True, help="the catalogue id (the index's directory name)")
    parser.add_argument("--indexes", type=Path, default=Path("var/indexes"), help="the index store's directory")
    parser.add_argument("--part", default="all", choices=["all", "train", "validation"])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--torchserve", metavar="URL", help="TorchServe's inference address")
    source.add_argument("--model-store", type=Path, help="run the archives of this model store in-process")
    source.add_argument("--checkpoint", type=Path, help="run this checkpoint in-process (default: checkpoints/fashion)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight at once")
    parser.add_argument("--json", type=Path, help="also write the summary here as JSON")
    args = parser.parse_args(argv)
    reader = DirectoryReader(args.data_dir, args.part)
    return asyncio.run(_main(args, reader))


async def _main(args: argparse.Namespace, reader: DirectoryReader) -> int:
    client = open_client(args)
    try:
        summary = await reindex(reader, client, CatalogueStore(args.indexes), args.catalogue,
                                batch_size=args.batch_size, concurrency=args.concurrency)
    except EmbedderFailed as error:
        print(f"reindex stopped: {error}", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        await client.aclose()
    print("\n".join(summary.lines()))
    if args.json:
        args.json.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return EXIT_SKIPPED if summary.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
