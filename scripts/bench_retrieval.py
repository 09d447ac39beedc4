"""Retrieval speed, in one run, with every ratio taken against a baseline measured in the same process.

    python -m scripts.bench_retrieval [--sizes 10000 100000 1000000] [--checkpoint DIR | --model-store DIR]
        [--data ../shared/data/fashion-products] [--real-data DIR ...] [--vectors-cache DIR] [--search-only]
        [--real-views N [--prepare-only]] [--json PATH]

1. Single-query search latency (one OpenMP thread) p50/p95 at each size, exact, approximate (IVF) and compressed
   (IVF-PQ, re-ranking its candidates by the exact vectors in its file on disk), recall@10 of each approximate one
   against exact, and `bytes_per_vector`: each index's own memory (vectors or codes, ids, trained parts;
   index/kinds.py `memory_bytes`) divided by its vectors, and `map_bytes_per_vector`: what the index keeps beside
   FAISS to name each slot's product and image (index/slots.py; products and images named by 24-character ids, as
   the API names them), and `whole_bytes_per_vector`, the two together; for the compressed one also
   `disk_bytes_per_vector` (its file of exact vectors), its latency with that file evicted from the page cache
   before every query (`cold`: the re-ranking then reads the disk), and recall and p50 by candidates re-ranked
   (`rerank`; 0: the codes' order). Page cache warm otherwise: the file was just written, and a serving replica reads it all day. Vectors: seeded,
   clustered, 256-d (kalas/synthetic_vectors.py); then the same on real embeddings of the shared-data photos
   (`--real-data`, embedded once by the served embedder and cached, kalas/photo_vectors.py) at their real count,
   or `--real-views N` vectors: the photos and views of them (a crop, a mirror image, a light change) embedded by the
   same handler, a million in hours of both cores; `--prepare-only` embeds them and stops, and goes on where a
   stopped run left off.
   --search-only stops there (sections 2-4 need minutes of model time).
2. End-to-end similar items for one photo: embed it in-process (the real embedder) + search the 100k index.
3. The original system's method: for each query, re-embed every gallery photo one by one and compare in a
   per-image Python cosine loop, against ours (embed the query, search the index) on the same small gallery;
   the original's time grows with the gallery, so its cost per gallery image is also projected to larger ones.
4. Reindex throughput (images/s) beside the in-process batched forward-pass rate of the same model: the median
   pass over the handler's own preprocessed batch, the faster of the runs just before and just after the reindex.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from api.clients.in_process import InProcessClient
from handlers.archive import EMBEDDER, stage_archives
from handlers.in_process import ServedModel, open_archive
from handlers.openmp_pool import bound_openmp_spinning
from index import CatalogueIndex, CatalogueStore
from kalas.dataset import read_records, shared_data
from kalas.photo_vectors import CACHE_ROOT, photo_vectors, photo_views
from kalas.readers import DirectoryReader
from kalas.synthetic_vectors import ClusteredVectors
from scripts.reindex import reindex

DIM = 256
RERANK_SWEEP = (0, 50, 100, 150, 200)  # candidates re-ranked by the compressed index's exact vectors; 0: none


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def single_query_latency(index: CatalogueIndex, queries: np.ndarray) -> tuple[dict, list]:
    index.search(queries[0], k=10)  # warm-up
    times, results = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(index.search(query, k=10))
        times.append(time.perf_counter() - start)
    return percentiles(times), results


def recall_at_10(truth: list, found: list) -> float:
    return float(np.mean([len({h.product_id for h in t} & {h.product_id for h in f}) / 10 for t, f in zip(truth, found)]))


def bytes_per_vector(index: CatalogueIndex) -> float:
    return round(index.memory_bytes() / index.n_vectors, 1)


def map_bytes_per_vector(index: CatalogueIndex) -> float:
    return round(index.map_bytes() / index.n_vectors, 1)


def cold_latency(index: CatalogueIndex, queries: np.ndarray) -> dict:
    """Single queries with the exact vectors' file dropped from the page cache before each (the codes stay in RAM)."""
    times = []
    for query in queries:
        index.exact_vectors.evict()
        start = time.perf_counter()
        index.search(query, k=10)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def by_rerank(index: CatalogueIndex, queries: np.ndarray, truth: list) -> dict:
    """recall@10 and p50 by candidates re-ranked (0: the codes' own order, no re-ranking), with the page cache warm,
    then every p50 again from the disk (after the warm ones: an eviction would leave the next warm run cold)."""
    chosen, out = index.rerank, {}
    for candidates in RERANK_SWEEP:
        index.rerank = candidates
        latency, found = single_query_latency(index, queries)
        out[str(candidates)] = {"recall@10": round(recall_at_10(truth, found), 4), "p50_ms": latency["p50_ms"]}
    for candidates in RERANK_SWEEP[1:]:
        index.rerank = candidates
        cold = cold_latency(index, queries)
        out[str(candidates)] |= {"cold_p50_ms": cold["p50_ms"], "cold_p95_ms": cold["p95_ms"]}
    index.rerank = chosen
    return out


def measure_sizes(n: int, gallery: np.ndarray, queries: np.ndarray) -> tuple[dict, CatalogueIndex]:
    """Exact, IVF and IVF-PQ over `gallery`; the row of figures and the IVF index."""
    ids = [f"{i:024x}" for i in range(n)]  # the API's product and image ids are 24 hexadecimal characters
    images = [f"{n + i:024x}" for i in range(n)]
    exact = CatalogueIndex.build(DIM, ids, gallery, images=images, kind="flat")
    exact_latency, truth = single_query_latency(exact, queries)
    row = {"vectors": n, "exact": {**exact_latency, "bytes_per_vector": bytes_per_vector(exact),
                                   "map_bytes_per_vector": map_bytes_per_vector(exact)}}
    del exact
    gc.collect()
    built = {}
    scratch = tempfile.TemporaryDirectory(prefix="kalas-bench-")  # the compressed index's exact vectors, on disk
    for kind in ("ivf", "pq"):
        started = time.perf_counter()
        index = CatalogueIndex.build(DIM, ids, gallery, images=images, kind=kind, directory=scratch.name)
        build_s = time.perf_counter() - started
        latency, found = single_query_latency(index, queries)
        figures = row["approximate" if kind == "ivf" else "compressed"] = {
            **latency, "kind": kind, "nlist": index.nlist, "nprobe": index.nprobe, "build_s": round(build_s, 1),
            "recall@10": round(recall_at_10(truth, found), 4), "bytes_per_vector": bytes_per_vector(index),
            "map_bytes_per_vector": map_bytes_per_vector(index)}
        figures["whole_bytes_per_vector"] = round(figures["bytes_per_vector"] + figures["map_bytes_per_vector"], 1)
        built[kind] = index
        if kind == "pq":
            sweep = by_rerank(index, queries, truth)
            figures |= {"rerank": index.rerank, "disk_bytes_per_vector": round(index.disk_bytes() / index.n_vectors, 1),
                        "cold": {k.removeprefix("cold_"): v for k, v in sweep.get(str(index.rerank), {}).items() if "cold" in k},
                        "by_rerank": sweep}
            index.exact_vectors.close()
            del index, built["pq"]
            gc.collect()
    scratch.cleanup()
    row["recall@10"] = row["approximate"]["recall@10"]
    row["bytes_per_vector"] = row["exact"]["bytes_per_vector"]
    exact_row, ivf, pq = row["exact"], row["approximate"], row["compressed"]
    print(f"search {n:>9,} vectors: exact p50 {exact_row['p50_ms']:.3f} ms ({exact_row['bytes_per_vector']:.0f} B/vector)"
          f" | IVF{ivf['nlist']} nprobe {ivf['nprobe']}: p50 {ivf['p50_ms']:.3f} ms, recall@10 {ivf['recall@10']:.4f}, "
          f"{ivf['bytes_per_vector']:.0f} B/vector | IVF-PQ: p50 {pq['p50_ms']:.3f} ms p95 {pq['p95_ms']:.3f} ms, "
          f"recall@10 {pq['recall@10']:.4f}, {pq['bytes_per_vector']:.1f} B/vector in memory (+ "
          f"{pq['map_bytes_per_vector']:.1f} naming the slots = {pq['whole_bytes_per_vector']:.1f}) + "
          f"{pq['disk_bytes_per_vector']:.0f} on disk (built in {pq['build_s']:.0f} s); re-ranking {pq['rerank']} "
          f"from the disk, not the page cache: p50 {pq['cold']['p50_ms']:.3f} ms p95 {pq['cold']['p95_ms']:.3f} ms; by "
          f"candidates re-ranked: " + ", ".join(f"{r}: recall {v['recall@10']:.4f} p50 {v['p50_ms']:.3f} ms"
                                                f" (cold {v.get('cold_p50_ms', v['p50_ms']):.3f})"
                                                for r, v in pq["by_rerank"].items()) + f"; load average {os.getloadavg()[0]:.1f}",
          flush=True)
    return row, built["ivf"]


def bench_search(sizes: list[int], n_queries: int) -> tuple[list[dict], CatalogueIndex]:
    """Latency, recall and bytes per size; returns the IVF index of the size nearest 100k for the end-to-end run."""
    generator = ClusteredVectors(DIM, n_clusters=1000, noise=1.0, seed=0)
    queries, _ = generator.sample(n_queries, stream=1)
    rows, kept = [], None
    for n in sizes:
        gallery, _ = generator.sample(n)
        row, approximate = measure_sizes(n, gallery, queries)
        del gallery
        rows.append(row)
        if kept is None or abs(math.log(n / 100_000)) < abs(math.log(kept.n_vectors / 100_000)):
            kept = approximate
        del approximate
        gc.collect()
    return rows, kept


def bench_real(served: ServedModel, data_dirs: list[Path], n_queries: int, cache: Path, views: int = 0) -> dict:
    """The same measures on real embeddings of the photos: at their real count, or `views` rows of the photos and
    their views (kalas/photo_vectors.py). Queries are held-out photos, none of whose views is in the index."""
    photos = photo_vectors(served, data_dirs, root=cache)
    held = np.random.default_rng(0).permutation(len(photos))[:n_queries]
    vectors = photo_views(served, data_dirs, views, root=cache) if views else photos
    gallery = np.ascontiguousarray(vectors[~np.isin(np.arange(len(vectors)) % len(photos), held)])
    print(f"real embeddings: {len(gallery):,} vectors of the {len(photos):,} photos of "
          f"{', '.join(d.name for d in data_dirs)}{' and views of them' if views > len(photos) else ''} "
          f"({n_queries} photos held out as queries, with their views)", flush=True)
    row, _ = measure_sizes(len(gallery), gallery, photos[held])
    return {**row, "photos": len(photos), "views": len(vectors), "data": [d.name for d in data_dirs]}


async def bench_end_to_end(client: InProcessClient, photos: list[bytes], index: CatalogueIndex) -> dict:
    await client.embed(photos[:1])  # warm-up
    times = []
    for photo in photos:
        start = time.perf_counter()
        (answer,) = await client.embed([photo])
        index.search(answer.vector, k=10)
        times.append(time.perf_counter() - start)
    result = {"gallery_vectors": index.n_vectors, "photos": len(photos), **percentiles(times)}
    print(f"end to end (embed one photo in-process + search {index.n_vectors:,}): p50 {result['p50_ms']:.1f} ms, "
          f"p95 {result['p95_ms']:.1f} ms over {len(photos)} photos", flush=True)
    return result


def python_cosine(a: list[float], b: list[float]) -> float:
    dot = norm_a = norm_b = 0.0
    for x, y in zip(a, b):
        dot += x * y
        norm_a += x * x
        norm_b += y * y
    return dot / math.sqrt(norm_a * norm_b)


async def bench_original(client: InProcessClient, gallery: list[bytes], queries: list[bytes], full_size: int) -> dict:
    """The seed system's method against ours on the same gallery of len(gallery) photos."""
    original = []
    for query in queries:
        start = time.perf_counter()
        (q,) = await client.embed([query])
        q_list = q.vector.tolist()
        scores = []
        for photo in gallery:  # the gallery was re-embedded for every query, one photo at a time
            (g,) = await client.embed([photo])
            scores.append(python_cosine(q_list, g.vector.tolist()))
        sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:10]
        original.append(time.perf_counter() - start)
    vectors = [answer.vector for answer in await client.embed(gallery)]
    index = CatalogueIndex.build(DIM, [str(i) for i in range(len(gallery))], np.stack(vectors))
    ours = []
    for query in queries * 5:
        start = time.perf_counter()
        (q,) = await client.embed([query])
        index.search(q.vector, k=10)
        ours.append(time.perf_counter() - start)
    original_s, ours_s = float(np.median(original)), float(np.median(ours))
    per_image = original_s / len(gallery)
    result = {"gallery": len(gallery), "queries": len(queries), "original_s_per_query": round(original_s, 3),
              "ours_ms_per_query": round(ours_s * 1e3, 2), "speedup": round(original_s / ours_s, 1),
              "original_projected_s_per_query": {str(full_size): round(per_image * full_size, 1),
                                                 "100000": round(per_image * 100_000, 1)}}
    print(f"original method on a {len(gallery)}-photo gallery: {original_s:.2f} s per query; ours {ours_s * 1e3:.1f} ms;"
          f" {result['speedup']}x faster. Projected (linear in gallery size, not measured): "
          f"{per_image * full_size:.0f} s per query at {full_size:,} photos, {per_image * 1e5:.0f} s at 100,000", flush=True)
    return result


def forward_rate(served: ServedModel, photos: list[bytes], batch_size: int, rounds: int = 12) -> float:
    """Images/s of the model's forward pass alone, at its steady rate: the median of `rounds` timed passes over the
    batch the handler itself prepares from `photos` (decoding and preprocessing excluded)."""
    import torch  # imported once main() has bounded OpenMP's spinning

    handler = served.handler
    batch = handler.preprocess([{"body": bytearray(p)} for p in photos[:batch_size]]).tensor
    times = []
    with torch.inference_mode():
        handler.model(batch)  # warm-up
        for _ in range(rounds):
            start = time.perf_counter()
            handler.model(batch)
            times.append(time.perf_counter() - start)
    return len(batch) / float(np.median(times))


async def bench_reindex(served: ServedModel, data_dir: Path, n_images: int, batch_size: int) -> dict:
    """The reindex against the forward pass measured on this thread just before and just after it; the faster of
    the two is the baseline (the model's best steady rate here), so the ratio is never flattered by a slow one."""
    import torch  # imported once main() has bounded OpenMP's spinning

    reader = DirectoryReader(data_dir)
    reader.records = reader.records[:n_images]
    photos = [r.image.read_bytes() for r in reader.records[:batch_size]]
    before = forward_rate(served, photos, batch_size)
    client = InProcessClient({EMBEDDER: served}, max_batch=batch_size)
    try:
        with tempfile.TemporaryDirectory(prefix="kalas-bench-") as scratch:
            summary = await reindex(reader, client, CatalogueStore(scratch), "bench", batch_size=batch_size,
                                    concurrency=2, progress=False)
    finally:
        await client.aclose()
    after = forward_rate(served, photos, batch_size)
    forward = max(before, after)
    result = {"images": summary.embedded, "batch_size": batch_size, "reindex_images_per_s": round(summary.images_per_second, 1),
              "forward_images_per_s": round(forward, 1), "forward_before_after": [round(before, 1), round(after, 1)],
              "ratio": round(summary.images_per_second / forward, 3), "torch_threads": torch.get_num_threads()}
    print(f"reindex {summary.embedded} photos: {summary.images_per_second:.1f} images/s; model forward pass alone "
          f"(batch {batch_size}, the faster of before {before:.1f} and after {after:.1f}): {forward:.1f} images/s; "
          f"ratio {result['ratio']:.2f}", flush=True)
    return result


async def bench_models(args: argparse.Namespace, served: ServedModel, approximate: CatalogueIndex) -> dict:
    records = read_records(args.data)
    photos = [r.image.read_bytes() for r in records[: args.photos]]
    client = InProcessClient({EMBEDDER: served})
    try:
        out = {"end_to_end": await bench_end_to_end(client, photos, approximate)}
        gallery = [r.image.read_bytes() for r in records[1000 : 1000 + args.original_gallery]]
        out["original_method"] = await bench_original(client, gallery, photos[:2], len(records))
    finally:
        await client.aclose()
    out["reindex"] = await bench_reindex(served, args.data, args.reindex_images, batch_size=32)
    return out


def main(argv: list[str] | None = None) -> int:
    # OpenMP's spinning bounded as the reindex script bounds it, before torch is imported (the model, below), for
    # the forward pass and the reindex alike: alone, as fast as libgomp's default (measured); beside a busy
    # process, neither crawls (handlers/openmp_pool.py).
    bound_openmp_spinning()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                        help="synthetic vectors' sizes (none: skip them)")
    parser.add_argument("--queries", type=int, default=300, help="single queries timed per index")
    parser.add_argument("--data", type=Path, default=shared_data() / "fashion-products")
    parser.add_argument("--photos", type=int, default=50, help="photos timed end to end")
    parser.add_argument("--original-gallery", type=int, default=100, help="gallery size for the original method")
    parser.add_argument("--reindex-images", type=int, default=1024)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, help="default: checkpoints/fashion")
    source.add_argument("--model-store", type=Path)
    parser.add_argument("--real-data", type=Path, nargs="*",
                        default=[shared_data() / "fashion-products", shared_data() / "clothing"],
                        help="photos whose real embeddings are measured too (none: skip)")
    parser.add_argument("--vectors-cache", type=Path, default=CACHE_ROOT, help="where the real embeddings are kept")
    parser.add_argument("--real-views", type=int, default=0,
                        help="measure this many real vectors: the photos and views of them (0: the photos alone)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="embed the real views (hours for a million; a stopped run goes on where it stopped), then stop")
    parser.add_argument("--search-only", action="store_true", help="only section 1 (search, recall, bytes)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at start (other work shares these cores)")
    # The model first: a checkpoint that does not load should fail before the long search part, not after it.
    staged = None if args.model_store else stage_archives(args.checkpoint)
    served = open_archive(Path(args.model_store or staged.name), EMBEDDER)
    if args.prepare_only:
        views = photo_views(served, args.real_data, args.real_views, root=args.vectors_cache)
        print(f"{len(views):,} real vectors ready under {args.vectors_cache}")
        return 0
    rows, approximate = bench_search(args.sizes, args.queries)
    report: dict = {"search": rows}
    if args.real_data:
        report["search_real"] = bench_real(served, args.real_data, args.queries, args.vectors_cache, args.real_views)
    if not args.search_only:
        report |= asyncio.run(bench_models(args, served, approximate))
    if staged is not None:
        staged.cleanup()
    report["load_average"] = {"start": round(load[0], 1), "end": round(os.getloadavg()[0], 1), "cores": os.cpu_count()}
    print(f"load average at end {report['load_average']['end']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
