"""Serving benchmark: the same photos through the in-process client and through TorchServe, in one run.

    python -m scripts.bench_serving [--model-store model_store] [--requests 60] [--burst 64] [--json PATH]

Per model (fashion-attributes, fashion-embedder) it measures
- single-image latency: one request at a time, p50 and p95 over `--requests` requests;
- batched throughput: `--burst` images sent at once (TorchServe batches them by its config; the in-process
  client runs them in batches of the same size), images per second, best of `--rounds` rounds (default 4);
and prints the ratios TorchServe / in-process. The two paths take turns (request by request, burst by burst)
so that load from other processes falls on both alike. Targets (2-core machine): p50 <= 40 ms for one image through
TorchServe, batched throughput through TorchServe >= 80% of in-process. The machine's load average is printed
with the figures: other processes on a shared machine skew both sides.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from api.clients.inference import InferenceClient, InferenceError, TorchServeClient

from api.clients.in_process import InProcessClient
from handlers.archive import ATTRIBUTES, EMBEDDER, ROOT
from kalas.dataset import read_records, shared_data
from kalas.stack import torchserve
from scripts import build_archives

BATCH_SIZE = 8  # as config.properties' batchSize, so both sides run the same batches


def sample_photos(count: int) -> list[bytes]:
    """Half consumer photos (about 400x533), half shop photos (224x224), interleaved."""
    clothing = read_records(shared_data() / "clothing")[: count // 2]
    products = read_records(shared_data() / "fashion-products")[: count - len(clothing)]
    mixed = [r for pair in zip(clothing, products) for r in pair]
    return [record.image.read_bytes() for record in mixed]


async def _call(client: InferenceClient, model: str, images: list[bytes]) -> None:
    answers = await (client.annotate(images) if model == ATTRIBUTES else client.embed(images))
    failures = [a for a in answers if isinstance(a, InferenceError)]
    if failures:
        raise RuntimeError(f"{model} refused a benchmark photo: {failures[0]}")


async def latency_ms(clients: dict[str, InferenceClient], model: str, photos: list[bytes], requests: int) -> dict:
    """p50/p95 of one image at a time per path; the paths take turns request by request (see `measure`)."""
    for photo in photos[:3]:  # warm-up: first calls allocate
        for client in clients.values():
            await _call(client, model, [photo])
    times: dict[str, list[float]] = {path: [] for path in clients}
    for i in range(requests):
        for path, client in _in_turns(clients, i):
            started = time.perf_counter()
            await _call(client, model, [photos[i % len(photos)]])
            times[path].append((time.perf_counter() - started) * 1000)
    return {path: {"p50": round(statistics.median(t), 1), "p95": round(statistics.quantiles(t, n=20)[18], 1),
                   "requests": requests} for path, t in times.items()}


async def throughput(clients: dict[str, InferenceClient], model: str, photos: list[bytes], burst: int,
                     rounds: int) -> dict:
    """Images per second for a burst, best of `rounds` per path; the paths take turns round by round."""
    images = [photos[i % len(photos)] for i in range(burst)]
    rates: dict[str, list[float]] = {path: [] for path in clients}
    for client in clients.values():
        await _call(client, model, images[:BATCH_SIZE])
    for i in range(rounds):
        for path, client in _in_turns(clients, i):
            started = time.perf_counter()
            await _call(client, model, images)
            rates[path].append(burst / (time.perf_counter() - started))
    return {path: {"images_per_s": round(max(r), 1), "rounds": [round(x, 1) for x in r], "burst": burst}
            for path, r in rates.items()}


def _in_turns(clients: dict[str, InferenceClient], i: int) -> list[tuple[str, InferenceClient]]:
    """The paths in turn, the order reversed every other time: whichever goes second would otherwise always
    meet the first one's leftover work (TorchServe's logging, a worker's garbage collection)."""
    order = list(clients.items())
    return order[::-1] if i % 2 else order


async def measure(clients: dict[str, InferenceClient], photos: list[bytes], args: argparse.Namespace) -> dict:
    """{path: {model: figures}}. The paths alternate request by request (and burst by burst), so a load that
    comes and goes on a shared machine weighs on both alike and the ratios stay fair."""
    results: dict = {path: {} for path in clients}
    try:
        for model in (ATTRIBUTES, EMBEDDER):
            latency = await latency_ms(clients, model, photos, args.requests)
            rates = await throughput(clients, model, photos, args.burst, args.rounds)
            for path in clients:
                results[path][model] = {"latency_ms": latency[path], "throughput": rates[path]}
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def report(figures: dict) -> None:
    print(f"\nload average before/after: {figures['load_before']} / {figures['load_after']}  ({figures['machine']})")
    header = f"{'model':20} {'path':12} {'p50 ms':>8} {'p95 ms':>8} {'img/s':>8}"
    print(header + "\n" + "-" * len(header))
    for model in (ATTRIBUTES, EMBEDDER):
        for path in ("in_process", "torchserve"):
            f = figures[path][model]
            print(f"{model:20} {path:12} {f['latency_ms']['p50']:8.1f} {f['latency_ms']['p95']:8.1f} "
                  f"{f['throughput']['images_per_s']:8.1f}")
        r = figures["ratios"][model]
        print(f"{model:20} {'ratio ts/ip':12} {r['p50']:8.2f} {r['p95']:8.2f} {r['throughput']:8.2f}")
    a = figures["targets"]
    print(f"\ntargets: TorchServe p50 {a['p50_ms']} ms <= 40: {a['p50_ok']}; "
          f"TorchServe batched throughput {a['throughput_ratio']:.0%} of in-process >= 80%: {a['throughput_ok']}")


def main() -> dict:
    # The wait policy TorchServe's workers get, so that both sides wait alike; it has to be set before torch is
    # imported (here, and by the in-process client). The thread count is not copied: in-process, one model has
    # the whole machine (torch's default of a thread per core), where TorchServe runs a one-thread worker per
    # core for each model (WORKER_ENV).
    os.environ.setdefault("OMP_WAIT_POLICY", torchserve.WORKER_ENV["OMP_WAIT_POLICY"])
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-store", type=Path, default=ROOT / "model_store")
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--requests", type=int, default=60, help="single-image requests per model and path")
    parser.add_argument("--burst", type=int, default=64, help="images per throughput round")
    parser.add_argument("--rounds", type=int, default=4,
                        help="throughput rounds per model and path (even: each path goes first as often)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    if args.model_store == ROOT / "model_store" and not build_archives.up_to_date(args.model_store):
        build_archives.main(["--output", str(args.model_store)])
    photos = sample_photos(args.photos)
    figures: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
                     "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
                     "load_before": [round(x, 2) for x in os.getloadavg()], "photos": len(photos),
                     "batch_size": BATCH_SIZE}
    with tempfile.TemporaryDirectory(prefix="kalas-bench-") as home:
        print("starting TorchServe ...", flush=True)
        server = torchserve.start(args.model_store, home=Path(home))
        try:
            print("in-process and through TorchServe, in turns ...", flush=True)
            clients = {"in_process": InProcessClient.from_model_store(args.model_store, max_batch=BATCH_SIZE),
                       "torchserve": TorchServeClient(server.inference_url, timeout=300)}
            figures.update(asyncio.run(measure(clients, photos, args)))
        finally:
            torchserve.stop(server)
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["ratios"] = {
        model: {
            "p50": round(figures["torchserve"][model]["latency_ms"]["p50"] / figures["in_process"][model]["latency_ms"]["p50"], 2),
            "p95": round(figures["torchserve"][model]["latency_ms"]["p95"] / figures["in_process"][model]["latency_ms"]["p95"], 2),
            "throughput": round(figures["torchserve"][model]["throughput"]["images_per_s"]
                                / figures["in_process"][model]["throughput"]["images_per_s"], 2),
        }
        for model in (ATTRIBUTES, EMBEDDER)
    }
    p50 = figures["torchserve"][ATTRIBUTES]["latency_ms"]["p50"]
    ratio = figures["ratios"][ATTRIBUTES]["throughput"]
    figures["targets"] = {"p50_ms": p50, "p50_ok": p50 <= 40.0, "throughput_ratio": ratio, "throughput_ok": ratio >= 0.8}
    report(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return figures


if __name__ == "__main__":
    main()
