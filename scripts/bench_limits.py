"""What sharing rate limits across replicas costs a request: the limiter's check, per process and in the database.

    python -m scripts.bench_limits [--requests 2000] [--mongo-uri URI]

Times `take(credential)` of the per-process token bucket (api/core/ratelimit.py `RateLimiter`) and of the shared
fixed-window counter (`SharedRateLimiter`, one `$inc` round trip to MongoDB per request), alternating blocks of
requests so that both meet the same machine load. Against a fresh nx-27017 of its own unless --mongo-uri names a
server. Every authenticated request pays this once; the guessing throttle costs a query only on a login or an
unknown key. Prints p50/p95 in ms and the load average.
"""
from __future__ import annotations

import asyncio
import json
import time

from api.core.ratelimit import RateLimiter, SharedRateLimiter
from api.data.db import ensure_indexes, open_client
from kalas import bench

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
    return bench.latency_figures(times)


def main(argv: list[str] | None = None) -> int:
    parser = bench.parser(__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    load = bench.Load()
    with bench.database(args.mongo_uri, "limits") as scratch:
        result = asyncio.run(measure(scratch.uri, args.requests))
    result["load_average"] = load.figures()
    for name in ("process", "database"):
        print(f"rate limit check, {name}: p50 {result[name]['p50_ms']:.3f} ms, p95 {result[name]['p95_ms']:.3f} ms "
              f"over {result[name]['requests']} requests")
    print(f"added by sharing: {result['database']['p50_ms'] - result['process']['p50_ms']:.2f} ms at p50; "
          f"{load.says()}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
