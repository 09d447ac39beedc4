"""Benchmark: time from a WooCommerce webhook delivery to the product updated in the store.

Everything runs for real on this machine — nx-27017, TorchServe serving the archives, the API under uvicorn and
`python -m api.worker` — against the emulated WooCommerce store the tests use too (kalas/emulators/woocommerce.py,
a real HTTP server that sends signed webhooks). Products are created at a steady rate, as a merchant's import
does; for each one the clock starts when the store sends `product.created` and stops when the service's PUT reaches
the store.

    python -m scripts.bench_webhooks                      # 200 products at 4/s, worker lanes 4 (and 1 as baseline)
    python -m scripts.bench_webhooks --products 50 --rate 2 --lanes 4 --json webhooks.json

Prints p50/p95/max latency and throughput per worker configuration; the target is p95 ≤ 2 s.
(The original system took about 30 s for one product.)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from handlers.archive import DEFAULT_CHECKPOINT, build_archives
from kalas.dataset import shared_data
from kalas.stack import mongo, torchserve
from kalas.stack.live import WORKER_ARGS, start_live, stop_live, wait_for


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def stage_times(jobs: list[dict]) -> dict[str, float]:
    """Median seconds spent before each recorded step (queued → claimed is the wait in the queue)."""
    spans: dict[str, list[float]] = {}
    for job in jobs:
        for before, after in zip(job["steps"], job["steps"][1:]):
            spans.setdefault(after["step"], []).append(after["at"] - before["at"])
    return {step: statistics.median(values) for step, values in spans.items()}


def webhook_server_time(live) -> float | None:
    """Mean seconds the API spent answering a webhook, from its own /metrics (no client or queueing time)."""
    text = httpx.get(f"{live.service.url}/metrics", timeout=10).text
    line = r'kalas_http_request_duration_seconds_{}\{{.*route="/api/v1/webhooks/[^"]*".*\}} (\S+)'
    sums, counts = re.findall(line.format("sum"), text), re.findall(line.format("count"), text)
    total = sum(float(c) for c in counts)
    return sum(float(x) for x in sums) / total if total else None


def run_once(mongo_uri: str, inference_url: str, home: Path, photos: list[Path], products: int, rate: float,
             lanes: int) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    args = list(WORKER_ARGS)
    args[args.index("--lanes") + 1] = str(lanes)
    live = start_live(mongo_uri, f"bench_{lanes}_{time.monotonic_ns() % 10**9}", home, inference_url, photos)
    try:
        if lanes != 4:
            for worker in list(live.service.workers):
                live.service.kill_worker(worker)
            live.service.workers.clear()
            live.service.start_worker(*args)
        warm = live.store.create_product("warm-up", [photos[0].read_bytes()])
        live.annotated(warm["id"], timeout_s=120)
        created, started = [], time.monotonic()
        for n in range(products):
            created.append(live.store.create_product(f"bench {n}", [photos[n % len(photos)].read_bytes()])["id"])
            time.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        arrival = products / (time.monotonic() - started)
        wait_for(lambda: all(p in live.store.writes for p in created), 600, "every product written back")
        elapsed = max(live.store.writes[p][0] for p in created) - started
        live.store.wait_for_deliveries()
        sent, answered = {}, []
        for delivery in live.store.deliveries:
            if delivery.topic == "product.created":
                sent.setdefault(json.loads(delivery.body)["id"], delivery.sent_at)
            answered.append(delivery.answered_s)
        latencies = [live.store.writes[p][0] - sent[p] for p in created]
        loops = sum(len(live.store.writes[p]) - 1 for p in created)
        stages = stage_times([job for job in live.jobs() if job["product_id"] in set(created)])
        server_mean = webhook_server_time(live)
        return {"lanes": lanes, "n": len(latencies), "arrival": arrival, "webhook_server_mean": server_mean, "p50": statistics.median(latencies),
                "p95": percentile(latencies, 0.95), "max": max(latencies), "throughput": len(created) / elapsed, "elapsed": elapsed,
                "extra_writes": loops, "answer_p50": statistics.median(answered),
                "answer_p95": percentile(answered, 0.95), "stages": stages}
    finally:
        stop_live(live)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_webhooks", description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--rate", type=float, default=4.0, help="products created per second")
    parser.add_argument("--lanes", type=int, nargs="+", default=[4, 1], help="worker lanes to measure, in order")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    photos = sorted((shared_data() / "fashion-products" / "images").glob("*.jpg"))[:100]
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as work:
        home = Path(work)
        build_archives(home / "model_store", checkpoint_dir=args.checkpoint)
        database = mongo.start(home / "mongo")
        models = torchserve.start(home / "model_store", home=home / "torchserve")
        try:
            results = [run_once(database.uri, models.inference_url, home / f"run{lanes}", photos, args.products,
                                args.rate, lanes) for lanes in args.lanes]
        finally:
            torchserve.stop(models)
            mongo.stop(database)
    print(f"webhook delivery → product updated in the store, {args.products} products at {args.rate:g}/s "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the machine is shared)")
    for r in results:
        print(f"  lanes={r['lanes']}: p50 {r['p50']:.3f} s  p95 {r['p95']:.3f} s  max {r['max']:.3f} s  "
              f"extra writes (loops) {r['extra_writes']}  n={r['n']}")
        print(f"           all written back {r['elapsed']:.1f} s after the first product was created "
              f"({r['throughput']:.2f} products/s)")
        print(f"           products arrived at {r['arrival']:.2f}/s; webhook answered in p50 {r['answer_p50'] * 1000:.1f} ms "
              f"p95 {r['answer_p95'] * 1000:.1f} ms as the store saw it (own product.updated included); "
              f"mean time inside the API {(r['webhook_server_mean'] or 0) * 1000:.1f} ms")
        print("           median seconds per step: " + ", ".join(f"{k} {v:.3f}" for k, v in r["stages"].items()))
    if len(results) > 1:
        print(f"  p95 ratio lanes={results[-1]['lanes']} / lanes={results[0]['lanes']}: "
              f"{results[-1]['p95'] / results[0]['p95']:.2f}×")
    print(f"  target p95 ≤ 2 s: {'met' if results[0]['p95'] <= 2.0 else 'NOT met'} (lanes={results[0]['lanes']})")
    if args.json:
        args.json.write_text(json.dumps({"products": args.products, "rate": args.rate, "runs": results,
                                         "load_average": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
