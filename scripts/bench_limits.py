"""What sharing rate limits across replicas costs a request: the limiter's check, per process and in the database.

    python -m scripts.bench_limits [--requests 2000] [--mongo-uri URI]

Times `take(credential)` of the per-process token bucket (api/core/ratelimit.py `RateLimiter`) and of the shared
fixed-window counter (`SharedRateLimiter`, one `$inc` round trip to MongoDB per request), alternating blocks of
requests so that both meet the same machine load. Against a fresh nx-27017 of its own unless --mongo-uri names a
server. Every authenticated request pays this once; the guessing throttle costs a query only on a login or an
unknown key. Prints p50/p95 in ms and the load average.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from api.core.ratelimit import RateLimiter, SharedRateLimiter
from api.data.db import ensure_indexes, open_client
from kalas.stack import mongo

BLOCK = 100


async def measure(uri: str, requests: int) -> dict:
    client = open_client(uri)
    try:
        db = client["bench_limits"]
        await ensure_indexes(db)
        limiters = {"process": RateLimiter(10**9, 10**9), "database": SharedRateLimiter(db, 10**9, 10**9)}
        times: dict[str, list[float]] = {name: [] for name in limiters}
        for name, limiter in limiters.items():  # warm-up: connections open, counter documents exist
            for _ in range(20):
                await limiter.take("key-0")
        for block in range(requests // BLOCK):
            for name, limiter in limiters.items():
                for n in range(BLOCK):
                    credential = f"key-{n % 10}"
                    started = time.perf_counter()
                    await limiter.take(credential)
                    times[name].append(time.perf_counter() - started)
        await client.drop_database("bench_limits")
    finally:
        await client.close()
    return figures(times)


def figures(times: dict[str, list[float]]) -> dict:
    """Per name, the p50 and p95 in ms of its times (seconds) and how many."""
    return {name: {"p50_ms": round(float(np.percentile(t, 50)) * 1e3, 4),
                   "p95_ms": round(float(np.percentile(t, 95)) * 1e3, 4), "requests": len(t)}
            for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--mongo-uri", help="a running server (default: a fresh nx-27017)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kalas-bench-limits-") as home:
        with mongo.given_or_fresh(args.mongo_uri, Path(home)) as uri:
            result = asyncio.run(measure(uri, args.requests))
    result["load_average"] = {"start": round(load[0], 2), "end": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
    for name in ("process", "database"):
        print(f"rate limit check, {name}: p50 {result[name]['p50_ms']:.3f} ms, p95 {result[name]['p95_ms']:.3f} ms "
              f"over {result[name]['requests']} requests")
    print(f"added by sharing: {result['database']['p50_ms'] - result['process']['p50_ms']:.2f} ms at p50; "
          f"load average {load[0]:.2f} at start, {result['load_average']['end']:.2f} at end, {os.cpu_count()} cores")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
