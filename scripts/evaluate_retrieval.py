"""Similar-item retrieval quality on any shared-data-layout directory.

    python -m scripts.evaluate_retrieval DATA_DIR --json PATH [--sheet PATH.png]
        [--torchserve URL | --model-store DIR | --checkpoint DIR] [--indexes DIR]

Gallery: the train split, indexed by the batch reindex. Queries: the validation split (kalas/dataset.py), so no
query is in the gallery. A result is relevant when it has the query's article type (`--type-column`, default
articleType, else label), and, measured separately, the same type and colour (`--colour-column`, default
baseColour when present). Reported: precision@k and hit@k for k in 1, 5, 10, overall and macro over types (the
long tail), and exact recovery: a re-encoded, slightly cropped copy of a gallery photo must come back first
(the analogue of MMFashion's in-shop recall, which needs several photos of one item; these sets have one).
A contact sheet (PNG) shows queries and their top 5 for a person to look at.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from api.clients.inference import InferenceClient, InferenceError
from handlers.taxonomy import load_taxonomy
from index import CatalogueIndex, CatalogueStore, Hit, load
from kalas.contact_sheet import draw_contact_sheet
from kalas.dataset import Record, iter_batches, read_records, read_rows, split
from kalas.readers import DirectoryReader
from scripts.reindex import open_client, reindex

KS = (1, 5, 10)


def retrieval_metrics(queries: list[Record], results: list[list[Hit]], gallery: dict[str, Record],
                      same: Callable[[Record, Record], bool]) -> dict:
    """precision@k and hit@k (overall and macro over the query's type) where `same(query, result)` is relevance."""
    per_query = {k: [] for k in KS}
    for query, hits in zip(queries, results):
        relevant = [same(query, gallery[h.product_id]) for h in hits]
        for k in KS:
            per_query[k].append((np.mean(relevant[:k]) if relevant[:k] else 0.0, float(any(relevant[:k]))))
    out = {}
    for k in KS:
        precision = np.array([p for p, _ in per_query[k]])
        hit = np.array([h for _, h in per_query[k]])
        out[f"precision@{k}"] = round(float(precision.mean()), 4)
        out[f"hit@{k}"] = round(float(hit.mean()), 4)
    return out


def macro(queries: list[Record], values: list[float], key: Callable[[Record], str]) -> float:
    by_type: dict[str, list[float]] = {}
    for query, value in zip(queries, values):
        by_type.setdefault(key(query), []).append(value)
    return round(float(np.mean([np.mean(v) for v in by_type.values()])), 4)


def cropped_copy(image_bytes: bytes, crop: float = 0.04, quality: int = 85) -> bytes:
    """The photo with `crop` of each side cut away, saved again as JPEG: what a shop re-uploading it might send."""
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    w, h = image.size
    dx, dy = round(w * crop), round(h * crop)
    buffer = io.BytesIO()
    image.crop((dx, dy, w - dx, h - dy)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


async def embed_all(client: InferenceClient, images: list[bytes], batch_size: int = 32) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for batch in iter_batches(images, batch_size):
        out += [None if isinstance(r, InferenceError) else r.vector for r in await client.embed(batch)]
    return out


async def embedded_split(data_dir: Path, client: InferenceClient, store: CatalogueStore, source: CatalogueIndex | None,
                         progress: bool) -> tuple[CatalogueIndex, list[str], np.ndarray, list[dict]]:
    """(gallery index of the train split, query ids, query vectors, the photos left out and why), embedded by the
    batch reindex, or taken from `source`, an index of the whole directory keyed by its ids (the demo gallery), so
    nothing is embedded twice."""
    skipped: list[dict] = []
    if source is None:
        for catalogue, part in (("gallery", "train"), ("queries", "validation")):
            if store.get(catalogue) is None:
                done = await reindex(DirectoryReader(data_dir, part), client, store, catalogue, progress=progress)
                skipped += [{"id": s["product"], "reason": s["reason"]} for s in done.skipped]
        gallery, query_index = store.get("gallery"), store.get("queries")
        ids = query_index.products()
        return gallery, ids, np.stack([next(iter(query_index.vectors_of(q).values())) for q in ids]), skipped
    train, validation = split(read_records(data_dir))
    skipped = [{"id": r.id, "reason": "not in the index given"} for r in train + validation if r.id not in source]
    kept = [r.id for r in train if r.id in source]
    gallery = CatalogueIndex.build(source.dim, kept, np.stack([first_vector(source, p) for p in kept]))
    ids = [r.id for r in validation if r.id in source]
    return gallery, ids, np.stack([first_vector(source, q) for q in ids]), skipped


def unknown_labels(records: list[Record]) -> dict[str, int]:
    """Labels taxonomy.yaml does not map, with their counts: listed, never a reason to stop (retrieval is scored on
    the data set's own columns)."""
    unknown: Counter = Counter()
    try:
        mapping = load_taxonomy().detect(records[0].labels.keys())
    except ValueError:  # a layout the taxonomy does not know at all
        return {}
    for record in records:
        mapping.annotate(record.labels, unknown)
    return dict(unknown.most_common())


def first_vector(index: CatalogueIndex, product_id: str) -> np.ndarray:
    return next(iter(index.vectors_of(product_id).values()))


async def evaluate(data_dir: Path, client: InferenceClient, store: CatalogueStore, *, type_column: str,
                   colour_column: str | None, recovery_samples: int = 200, progress: bool = True,
                   source: CatalogueIndex | None = None) -> tuple[dict, list]:
    found, missing = read_rows(data_dir)
    records = {r.id: r for r in found}
    gallery, query_ids, vectors, skipped = await embedded_split(data_dir, client, store, source, progress)
    queries = [records[q] for q in query_ids]
    results = gallery.search_many(vectors, k=max(KS))

    def same_type(a: Record, b: Record) -> bool:
        return a.labels[type_column] == b.labels[type_column]

    def same_type_colour(a: Record, b: Record) -> bool:
        return same_type(a, b) and a.labels[colour_column] == b.labels[colour_column]

    report = {"data": str(data_dir), "gallery_images": gallery.n_vectors, "queries": len(queries),
              "unknown_labels": unknown_labels(list(records.values())),
              # Neither in the gallery nor among the queries: said, so that a smaller test set is never unsaid.
              "left_out": {"unreadable": skipped, "not_in_images": [r.id for r in missing]},
              "type_column": type_column, "same_type": retrieval_metrics(queries, results, records, same_type)}
    p5 = [np.mean([same_type(q, records[h.product_id]) for h in r[:5]]) for q, r in zip(queries, results)]
    report["same_type"]["macro_precision@5"] = macro(queries, p5, lambda q: q.labels[type_column])
    if colour_column:
        report["colour_column"] = colour_column
        report["same_type_and_colour"] = retrieval_metrics(queries, results, records, same_type_colour)
    report["exact_recovery"] = await exact_recovery(client, gallery, records, recovery_samples)
    return report, list(zip(queries, results))


async def exact_recovery(client: InferenceClient, gallery: CatalogueIndex, records: dict[str, Record], n: int) -> dict:
    sample = random.Random(0).sample(sorted(gallery.products()), min(n, len(gallery)))
    copies = [cropped_copy(records[p].image.read_bytes()) for p in sample]
    vectors = await embed_all(client, copies)
    first = [v is not None and gallery.search(v, k=1)[0].product_id == p for p, v in zip(sample, vectors)]
    return {"samples": len(sample), "crop_per_side": 0.04, "jpeg_quality": 85,
            "top1_rate": round(float(np.mean(first)), 4), "missed": [p for p, ok in zip(sample, first) if not ok][:20]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--json", type=Path, required=True, help="where the metrics go")
    parser.add_argument("--sheet", type=Path, help="contact sheet PNG (default: next to --json)")
    parser.add_argument("--sheet-queries", type=int, default=24)
    parser.add_argument("--indexes", type=Path, help="keep the embedded gallery/queries here and reuse them")
    parser.add_argument("--vectors-from", type=Path, metavar="INDEX_FILE",
                        help="take the photos' vectors from this index of the same directory (e.g. the demo gallery, "
                             "var/indexes/demo/index.kidx) instead of embedding them again; it must come from the "
                             "same model as --checkpoint/--model-store/--torchserve, which still embed the crops")
    parser.add_argument("--type-column", help="relevance: same value here (default articleType, else label)")
    parser.add_argument("--colour-column", help="and, separately, here too (default baseColour when present)")
    parser.add_argument("--recovery-samples", type=int, default=200)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--torchserve", metavar="URL")
    source.add_argument("--model-store", type=Path)
    source.add_argument("--checkpoint", type=Path)
    args = parser.parse_args(argv)
    try:
        records = read_records(args.data_dir)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    if not records:
        parser.error(f"{args.data_dir}: no photos to evaluate (labels.csv lists none that images/ holds)")
    columns = records[0].labels
    type_column = args.type_column or ("articleType" if "articleType" in columns else "label")
    colour_column = args.colour_column or ("baseColour" if "baseColour" in columns else None)
    for column in filter(None, (type_column, colour_column)):
        if column not in columns:
            parser.error(f"labels.csv has no column {column!r}; it has {sorted(columns)}")
    with tempfile.TemporaryDirectory(prefix="kalas-eval-") as scratch:
        store = CatalogueStore(args.indexes or scratch)
        report, rows = asyncio.run(_run(args, store, type_column, colour_column))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    sheet = args.sheet or args.json.with_suffix(".png")
    draw_contact_sheet(rows[: args.sheet_queries], sheet, label=lambda r: r.labels[type_column],
                       relevant=lambda q, r: q.labels[type_column] == r.labels[type_column],
                       gallery={r.id: r for r in records})
    print(json.dumps(report, indent=2))
    print(f"contact sheet: {sheet}")
    return 0


async def _run(args: argparse.Namespace, store: CatalogueStore, type_column: str, colour_column: str | None):
    client = open_client(args)
    try:
        source = load(args.vectors_from) if args.vectors_from else None
        return await evaluate(args.data_dir, client, store, type_column=type_column, colour_column=colour_column,
                              recovery_samples=args.recovery_samples, source=source)
    finally:
        await client.aclose()


if __name__ == "__main__":
    sys.exit(main())
