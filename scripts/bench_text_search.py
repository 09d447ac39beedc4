"""Latency of a text query through the API, end to end, over a catalogue of 100,000 products.

Starts its own nx-27017 and API (uvicorn, the archives in-process: a text query runs no image model), stores
`--products` products straight into the database as the catalogue stores them (each a real fashion-products
photo's served embedding with a little noise, its signals, and that photo's real title, so that both the photo side and the
own-words side of the search have real work), lets the API build the shop's index from the database, then sends
GET /api/v1/products/search one at a time: category names, colour names, pattern phrases and real titles.
Printed: p50 and p95 of the whole request, the text encoder's own time per query (one query at a time, as the API
encodes them), and the load average.

    python -m scripts.bench_text_search [--products 100000] [--requests 300] [--model-store DIR] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from pymongo import MongoClient

from api.core.security import new_id
from api.data.products import own_words
from handlers.archive import DEFAULT_CHECKPOINT, build_archives, weights_digest
from handlers.models.fashion import WEIGHTS_FILE
from handlers.signals import signals
from handlers.text_encoder import TextEncoder
from kalas.dataset import read_records, shared_data
from kalas.served_outputs import served_outputs
from kalas.stack import mongo
from scripts.bench_api import percentile, start_api, timed
from scripts.run import state_dirs_env
from scripts.train_text import DEFAULT_OUT

QUERIES = ["shirt", "striped shirt", "navy blue tshirt", "black casual shoes", "red dress", "handbag", "watch",
           "women floral kurta", "checked shirt men", "jeans", "white sports shoes", "printed t-shirt", "socks",
           "sunglasses", "grey sweatshirt", "brown belt", "formal shoes", "green", "pink top", "backpack"]


def catalogue(products: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`products` vectors, signals and titles: real photos' embeddings, each copy moved by a little noise."""
    data_dir = shared_data() / "fashion-products"
    records = read_records(data_dir)
    outputs = served_outputs(records, data_dir, DEFAULT_CHECKPOINT)
    real = outputs["embedding"]
    rng = np.random.default_rng(seed)
    rows = np.arange(products) % len(records)
    vectors = real[rows] + rng.normal(0, 0.02, (products, real.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, signals(outputs)[rows], [records[i].labels.get("title", "") for i in rows]


def store(uri: str, account_id: str, vectors: np.ndarray, signal_rows: np.ndarray, titles: list[str],
          embedder: str) -> None:
    with MongoClient(uri) as client:
        products = client["bench"].products
        moment = datetime.now(timezone.utc)
        batch = []
        for vector, photo_signals, title in zip(vectors, signal_rows, titles):
            fields = {"title": title, "sku": None, "url": None, "metadata": {}}
            batch.append({"_id": new_id(), "account": account_id, **fields, "words": own_words(fields),
                          "images": [{"id": new_id(), "width": 224, "height": 224}],
                          "embeddings": [vector.tolist()], "signals": [photo_signals.tolist()], "embedder": embedder,
                          "created": moment, "updated": moment})
            if len(batch) == 2000:
                products.insert_many(batch, ordered=False)
                batch = []
        if batch:
            products.insert_many(batch, ordered=False)


def run(args: argparse.Namespace, home: Path) -> dict:
    vectors, signal_rows, titles = catalogue(args.products)
    model_store = args.model_store
    if model_store is None:
        model_store = home / "model_store"
        build_archives(model_store)
    db = mongo.start(home / "mongo")
    api = None
    try:
        port = mongo.free_port()
        env = dict(os.environ, KALAS_MONGO_URI=db.uri, KALAS_DATABASE="bench", KALAS_MODEL_STORE=str(model_store),
                   KALAS_RATE_LIMIT_PER_MINUTE="1000000", KALAS_RATE_LIMIT_BURST="100000", **state_dirs_env(home))
        api = start_api(env, home, port)
        base = f"http://127.0.0.1:{port}/api/v1"
        with httpx.Client(timeout=600) as http:
            signup = http.post(f"{base}/auth/signup", json={"email": "bench@shop.example", "password": "benchmark password",
                                                           "shop_name": "bench"}).json()
            headers = {"Authorization": f"Bearer {signup['token']}"}
            account_id = http.get(f"{base}/auth/me", headers=headers).json()["id"]
            started = time.perf_counter()
            store(db.uri, account_id, vectors, signal_rows, titles, weights_digest(DEFAULT_CHECKPOINT / WEIGHTS_FILE))
            stored_s = time.perf_counter() - started
            queries = QUERIES + [t for t in titles[: args.products : max(1, args.products // 20)] if t]
            search = lambda q: http.get(f"{base}/products/search", params={"q": q, "k": 20}, headers=headers)  # noqa: E731
            started = time.perf_counter()
            first = search(queries[0])  # builds the shop's index from the database
            if first.status_code != 200:
                log = (home / "api.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the first search answered {first.status_code}: {first.text[:300]}\n{log}")
            index_s = time.perf_counter() - started
            for q in queries:
                timed(lambda: search(q))
            samples = [(queries[i % len(queries)], timed(lambda: search(queries[i % len(queries)])))
                       for i in range(args.requests)]
    finally:
        if api is not None:
            mongo.stop_process(api, timeout_s=30.0)
        mongo.stop(db)
    encoder = TextEncoder.load(DEFAULT_OUT)
    known = [ms for q, ms in samples if not encoder.unknown_words(q)]
    unknown = [ms for q, ms in samples if encoder.unknown_words(q)]
    encoder.encode(queries[:1])
    started = time.perf_counter()
    for q in queries * 5:
        encoder.query(q)
    encode_ms = (time.perf_counter() - started) * 1000 / (5 * len(queries))
    return {"products": args.products, "requests": args.requests, "queries": len(queries),
            "p50_ms": statistics.median(ms for _, ms in samples), "p95_ms": percentile([ms for _, ms in samples], 95),
            "known_words": {"requests": len(known), "p50_ms": statistics.median(known) if known else None},
            "unknown_words": {"requests": len(unknown), "p50_ms": statistics.median(unknown) if unknown else None},
            "encode_ms": encode_ms,
            "store_s": stored_s, "first_search_s": index_s, "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--model-store", type=Path, help="built archives (default: build them from checkpoints/fashion)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kalas-bench-text-") as home:
        result = run(args, Path(home))
    print(f"text search over {result['products']} products, {result['requests']} requests one at a time "
          f"({result['queries']} distinct queries): p50 {result['p50_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms "
          f"(target: p50 ≤ 10 ms); queries whose words the encoder all knows p50 "
          f"{result['known_words']['p50_ms'] or 0:.2f} ms ({result['known_words']['requests']} requests), queries "
          f"with a word it does not know (also looked up in the products' own words) p50 "
          f"{result['unknown_words']['p50_ms'] or 0:.2f} ms ({result['unknown_words']['requests']}); the encoder alone {result['encode_ms']:.2f} ms a query; "
          f"stored in {result['store_s']:.0f} s, index built from the database in {result['first_search_s']:.1f} s; "
          f"load average {result['load_average'][0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
