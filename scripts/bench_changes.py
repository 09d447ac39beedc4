"""What a replica's catch-up read costs as the catalogue change log grows (api/data/changes.py), with the log kept as
the service keeps it (expired by housekeeping) and with a TTL index on `at` as before.

    python -m scripts.bench_changes [--sizes 1000 5000 20000] [--reads 20] [--mongo-uri URI]

Two databases on one fresh nx-27017 of its own (unless --mongo-uri names a server) are filled alike, in steps, to
each size; at each, `since` (the entries after a replica's number, 4 new ones: what every catch-up reads) and
`record` of one product are timed in alternation on both. Prints the p50s, their ratio and the load average.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import time

from pymongo.asynchronous.database import AsyncDatabase

from api.data import changes
from api.data.db import open_client
from kalas import bench

SHOP = "a" * 24


async def _timed(call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(uri: str, sizes: list[int], reads: int) -> list[dict]:
    client = open_client(uri)
    try:
        dbs: dict[str, AsyncDatabase] = {"housekept": client["bench_changes_kept"], "ttl": client["bench_changes_ttl"]}
        for name, db in dbs.items():
            await changes.ensure_indexes(db)
            if name == "ttl":
                await db.catalogue_changes.create_index("at", expireAfterSeconds=changes.KEEP_DAYS * 86_400)
        rows = []
        for size in sizes:
            for db in dbs.values():
                while await changes.position(db, SHOP) < size:
                    await changes.record(db, SHOP, [f"p{n}" for n in range(500)])
            times: dict[str, dict[str, list[float]]] = {name: {"since": [], "record": []} for name in dbs}
            for _ in range(reads):
                for name, db in dbs.items():
                    seq = await changes.position(db, SHOP)
                    times[name]["since"].append(await _timed(lambda: changes.since(db, SHOP, seq - 4, 100)))
                    times[name]["record"].append(await _timed(lambda: changes.record(db, SHOP, ["one"])))
            row = {"entries": size}
            for name in dbs:
                for call in ("since", "record"):
                    row[f"{name}_{call}_ms"] = round(statistics.median(times[name][call]), 2)
            rows.append(row)
        for db in dbs.values():
            await client.drop_database(db.name)
        return rows
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = bench.parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args(argv)
    load = bench.Load()
    with bench.database(args.mongo_uri, "changes") as scratch:
        rows = asyncio.run(measure(scratch.uri, args.sizes, args.reads))
    for row in rows:
        print(f"{row['entries']:>7,} entries: since {row['housekept_since_ms']:.2f} ms housekept, "
              f"{row['ttl_since_ms']:.2f} ms with a TTL index (×{row['ttl_since_ms'] / row['housekept_since_ms']:.1f}); "
              f"record {row['housekept_record_ms']:.2f} ms against {row['ttl_record_ms']:.2f} ms")
    print(load.says())
    print(json.dumps({"rows": rows, "load_average": load.figures()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
