"""Latency of annotate and similar-items through the API, and the API's overhead over calling TorchServe directly.

Starts its own nx-27017, TorchServe and API (uvicorn, a separate process), loads a catalogue, then sends the
same photos, one request at a time and interleaved, four ways: TorchServe's fashion-attributes directly, the
API's POST /annotations (upload), TorchServe's fashion-embedder directly, the API's POST /similar. The overhead
is API p50 minus direct p50 in the same run (target: ≤ 5 ms). Everything it started is stopped at the end.

The photos sent are fashion-products' thumbnails (median 5 KB) unless `--photo-side N` is given: then 50 of the
clothing set's consumer photos, scaled to N px on their long side and saved as JPEG at quality 90. N = 2132
gives a median of 339 KB, the size of photo a shop uploads; the write after the model grows with it
(docs/benchmarks.md).

    python -m scripts.bench_api [--requests 200] [--catalogue 200] [--model-store model_store | --checkpoint DIR]
                                [--photo-side 2132]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from PIL import Image

from handlers.archive import ROOT, build_archives
from kalas.dataset import Record, read_records, shared_data
from kalas.stack import mongo, torchserve
from kalas.stack.service import wait_for_api
from scripts.run import state_dirs_env


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_api(env: dict[str, str], home: Path, port: int) -> subprocess.Popen:
    log = (home / "api.log").open("ab")
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
                            "--port", str(port), "--log-level", "warning", "--no-access-log"],
                           cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_api(f"http://127.0.0.1:{port}", api, home)
    return api


def timed(call) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def shop_sized(records: list[Record], side: int) -> list[bytes]:
    """Each photo scaled to `side` px on its long side, as JPEG at quality 90."""
    photos = []
    for record in records:
        with Image.open(record.image) as image:
            scale = side / max(image.size)
            resized = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)),
                                                  Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        resized.save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def run(args: argparse.Namespace, home: Path) -> dict:
    products = read_records(shared_data() / "fashion-products")
    catalogue = [r.image.read_bytes() for r in products[: args.catalogue]]
    if args.photo_side:
        queries = shop_sized(read_records(shared_data() / "clothing")[:50], args.photo_side)
    else:
        queries = [r.image.read_bytes() for r in products[args.catalogue : args.catalogue + 50]]
    store = args.model_store
    if store is None:
        store = home / "model_store"
        build_archives(store, checkpoint_dir=args.checkpoint)
    db = mongo.start(home / "mongo")
    server = api = None
    try:
        server = torchserve.start(store, home=home / "torchserve")
        port = mongo.free_port()
        env = dict(os.environ, KALAS_MONGO_URI=db.uri, KALAS_DATABASE="bench", KALAS_INFERENCE_URL=server.inference_url,
                   KALAS_RATE_LIMIT_PER_MINUTE="1000000", KALAS_RATE_LIMIT_BURST="100000", **state_dirs_env(home))
        api = start_api(env, home, port)
        base = f"http://127.0.0.1:{port}/api/v1"
        with httpx.Client(timeout=60) as http:
            signup = http.post(f"{base}/auth/signup", json={"email": "bench@shop.example", "password": "benchmark password",
                                                           "shop_name": "bench"}).json()
            key = http.post(f"{base}/keys", json={"name": "bench"},
                            headers={"Authorization": f"Bearer {signup['token']}"}).json()["secret"]
            headers = {"X-API-Key": key}
            for position, photo in enumerate(catalogue):
                timed(lambda: http.post(f"{base}/products/upload", headers=headers, data={"title": f"product {position}"},
                                        files=[("images", ("p.jpg", photo))]))
            ways = {
                "torchserve annotate": lambda p: http.post(f"{server.inference_url}/predictions/fashion-attributes", content=p),
                "api annotate": lambda p: http.post(f"{base}/annotations", headers=headers, files={"file": ("q.jpg", p)}),
                "torchserve embed": lambda p: http.post(f"{server.inference_url}/predictions/fashion-embedder", content=p),
                "api similar": lambda p: http.post(f"{base}/similar", headers=headers, files={"file": ("q.jpg", p)},
                                                   data={"k": "10"}),
            }
            for i in range(args.warmup):
                for way in ways.values():
                    timed(lambda: way(queries[i % len(queries)]))
            samples: dict[str, list[float]] = {name: [] for name in ways}
            # CPU seconds the API and the database spend, per API request: unlike wall time on a shared machine,
            # they do not grow with other people's load.
            processes = {"api": psutil.Process(api.pid), "database": psutil.Process(db.process.pid)}
            cpu_before = {name: _cpu(p) for name, p in processes.items()}
            for i in range(args.requests):
                for name, way in ways.items():  # interleaved, so drift in machine load hits all four alike
                    samples[name].append(timed(lambda: way(queries[i % len(queries)])))
            cpu_ms = {name: (_cpu(p) - cpu_before[name]) * 1000 / (2 * args.requests) for name, p in processes.items()}
    finally:
        if api is not None:
            mongo.stop_process(api, timeout_s=30.0)
        if server is not None:
            torchserve.stop(server)
        mongo.stop(db)
    figures = {name: {"p50_ms": statistics.median(v), "p95_ms": percentile(v, 95)} for name, v in samples.items()}
    for op in ("annotate", "similar"):
        api_p50 = figures[f"api {op}"]["p50_ms"]
        direct = figures["torchserve annotate" if op == "annotate" else "torchserve embed"]
        figures[f"overhead {op}"] = {"p50_ms": api_p50 - direct["p50_ms"],
                                     "p95_ms": figures[f"api {op}"]["p95_ms"] - direct["p95_ms"],
                                     "ratio_p50": api_p50 / direct["p50_ms"]}
    return {"requests": args.requests, "catalogue": args.catalogue, "figures": figures, "cpu_ms_per_api_request": cpu_ms,
            "query_bytes_median": statistics.median(len(q) for q in queries), "load_average": os.getloadavg()}


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per way")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--catalogue", type=int, default=200, help="products in the searched catalogue")
    parser.add_argument("--model-store", type=Path, help="built archives (default: build them from --checkpoint)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint to build archives from (default: checkpoints/fashion)")
    parser.add_argument("--photo-side", type=int, help="send clothing photos scaled to this many px on the long side "
                        "(default: fashion-products thumbnails)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kalas-bench-api-") as home:
        result = run(args, Path(home))
    print(f"{'':22} {'p50 ms':>8} {'p95 ms':>8}")
    for name, figure in result["figures"].items():
        extra = f"   API/direct p50 = {figure['ratio_p50']:.2f}×" if "ratio_p50" in figure else ""
        print(f"{name:22} {figure['p50_ms']:8.2f} {figure['p95_ms']:8.2f}{extra}")
    cpu = result["cpu_ms_per_api_request"]
    print(f"CPU per API request: API process {cpu['api']:.2f} ms, database process {cpu['database']:.2f} ms")
    print(f"({result['requests']} requests per way, one at a time, photos of {result['query_bytes_median'] / 1e3:.1f} KB "
          f"(median); catalogue of {result['catalogue']} products; "
          f"load average {result['load_average'][0]:.1f}; target: overhead ≤ 5 ms at p50)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
