"""Reads that nx-27017 answers by reading a whole collection, as the data layer made them and as it makes them now.

    python -m scripts.bench_nx_reads [--jobs 10000] [--steps 8] [--shops 5] [--model-shops 50] [--repeats 20]
                                     [--mongo-uri URI]

nx-27017 answers `{"_id": {"$in": ids}}` from its primary key, but `$in` on any other field, or an `_id` `$in` with
the account beside it, by reading the whole collection; and it reads a compound index whole. Seeds `--jobs` jobs'
steps (`--steps` each) and one image per job spread over `--shops` shops, then times, in alternation, what a page
of a store's 20 jobs reads (their steps) and what a re-embedding batch reads (the images of 8 products), before and
after, checking both give the same answer. Then `--model-shops` shops' 5 model versions (60 KB of arrays each): a
shop's newest version, as every process checks it every 5 s a shop, without the single-field `account` index and
then with it; and the latest job of a piece of work among the `--jobs` jobs (the shop model page's training, a
callback delivery's retry), without its single-field `wait_key` index and then with it. A fresh nx-27017 of its own unless --mongo-uri names a server. Prints p50s in ms and the load average.
"""
from __future__ import annotations

import asyncio
import json
import os
import time

from pymongo import ASCENDING

from api.data import images, jobs, shop_models
from api.data.db import ensure_indexes, open_client
from kalas import bench

DATABASE = "bench_nx_reads"
MODEL_BYTES, VERSIONS = 60_000, 5


async def steps_before(db, job_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {job_id: [] for job_id in job_ids}
    async for step in db.job_steps.find({"job": {"$in": job_ids}}).sort([("at", ASCENDING)]):
        found[step["job"]].append(step)
    return found


async def images_before(db, account_id: str, image_ids: list[str]) -> dict[str, dict]:
    return {image["_id"]: image async for image in db.images.find({"_id": {"$in": image_ids}, "account": account_id})}


async def with_index_added(db, collection: str, field: str, name: str, call, expected, repeats: int,
                           times: dict[str, list[float]]) -> list[str]:
    """Times `call(n)` without the single-field index on `field` that ensure_indexes made, then with it again; the
    name, when an answer is not `expected(n)`."""
    await db[collection].drop_index(f"{field}_1")
    right = True
    for side in ("before", "after"):
        if side == "after":
            await ensure_indexes(db)
        times[f"{name}, {side}"] = []
        for n in range(repeats):
            started = time.perf_counter()
            answer = await call(n)
            times[f"{name}, {side}"].append(time.perf_counter() - started)
            right = right and answer == expected(n)
    return [] if right else [name]


async def _job_id(found) -> str | None:
    job = await found
    return job and job["_id"]


async def measure(uri: str, n_jobs: int, n_steps: int, shops: int, model_shops: int, repeats: int) -> dict:
    client = open_client(uri)
    try:
        await client.drop_database(DATABASE)
        db = client[DATABASE]
        await ensure_indexes(db)
        moment = time.time()
        steps = [{"_id": f"s{j}-{k}", "job": f"j{j}", "at": moment + k, "name": "step", "detail": "annotated"}
                 for j in range(n_jobs) for k in range(n_steps)]
        photos = [{"_id": f"i{j:08d}", "account": f"shop-{j % shops}", "width": 800, "height": 1000, "format": "JPEG",
                   "bytes": 120_000, "created": moment} for j in range(n_jobs)]
        for collection, documents in (("job_steps", steps), ("images", photos)):
            for at in range(0, len(documents), 5000):
                await db[collection].insert_many(documents[at:at + 5000])
        cases = {
            "steps of a page of 20 jobs": (
                lambda n: steps_before(db, [f"j{(97 * n + k) % n_jobs}" for k in range(20)]),
                lambda n: jobs.steps(db, [f"j{(97 * n + k) % n_jobs}" for k in range(20)])),
            "images of 8 products": (
                lambda n: images_before(db, f"shop-{n % shops}", [f"i{(shops * (31 * n + k) + n % shops) % n_jobs:08d}"
                                                                 for k in range(8)]),
                lambda n: images.get_many(db, f"shop-{n % shops}", [f"i{(shops * (31 * n + k) + n % shops) % n_jobs:08d}"
                                                                    for k in range(8)])),
        }
        times: dict[str, list[float]] = {}
        differ = []
        for name, (before, after) in cases.items():
            for side in ("before", "after"):
                times[f"{name}, {side}"] = []
            for n in range(repeats):
                answers = []
                for side, call in (("before", before), ("after", after)):
                    started = time.perf_counter()
                    answers.append(await call(n))
                    times[f"{name}, {side}"].append(time.perf_counter() - started)
                if answers[0] != answers[1] or not any(answers[0].values()):
                    differ.append(f"{name} #{n}")
        blob = os.urandom(MODEL_BYTES)
        for shop in range(model_shops):
            await db.shop_models.insert_many([{"_id": f"m{shop}-{v}", "account": f"shop-{shop}", "version": v,
                                               "arrays": blob} for v in range(1, VERSIONS + 1)])
        differ += await with_index_added(
            db, "shop_models", "account", "a shop's newest model version", repeats=repeats, times=times,
            call=lambda n: shop_models.latest_version(db, f"shop-{(7 * n) % model_shops}"), expected=lambda n: VERSIONS)
        await db.jobs.insert_many([{"_id": f"j{j}", "account": f"shop-{j % shops}", "kind": "product",
                                    "wait_key": f"store-{j % shops}:{j}", "state": jobs.DONE, "created": moment + j,
                                    "updated": moment + j, "queued_key": f"claimed:j{j}"} for j in range(n_jobs)])
        differ += await with_index_added(
            db, "jobs", "wait_key", "the latest job of a piece of work", repeats=repeats, times=times,
            call=lambda n: _job_id(jobs.for_work(db, f"shop-{(97 * n) % shops}", f"store-{(97 * n) % shops}:{97 * n}")),
            expected=lambda n: f"j{97 * n}")
        await client.drop_database(DATABASE)
    finally:
        await client.close()
    return {"jobs": n_jobs, "steps": len(steps), "images": len(photos), "ms": bench.latency_figures(times), "answers_differ": differ}


def main(argv: list[str] | None = None) -> int:
    parser = bench.parser(__doc__)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--shops", type=int, default=5)
    parser.add_argument("--model-shops", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    load = bench.Load()
    with bench.database(args.mongo_uri, "nx-reads") as scratch:
        result = asyncio.run(measure(scratch.uri, args.jobs, args.steps, args.shops, args.model_shops, args.repeats))
    result["load_average"] = load.figures()
    print(f"{result['steps']:,} steps of {result['jobs']:,} jobs, {result['images']:,} images")
    for name, row in result["ms"].items():
        print(f"{name}: p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms over {row['requests']}")
    print(f"answers differ: {', '.join(result['answers_differ']) or 'none'}; {load.says()}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
