"""The console's and the API's list routes for one shop in a database of many: p50 of the data-layer calls behind them.

    python -m scripts.bench_lists [--rows 20000] [--shops 5] [--repeats 30] [--mongo-uri URI]

Seeds `--rows` documents per collection (products with 256-float embeddings and 122-float signals, annotations,
an integration's jobs and webhook deliveries, reviews; a tenth as many API keys), spread over `--shops` shops, in a
fresh nx-27017 of its own unless --mongo-uri names a server. Then times each call (shops in turn), first page
(20 rows) and the tenth, three times in one run on the same data:

- before: the indexes the data layer creates less the single-field ones added for nx-27017 (`ADDED`), and totals
  counted by pymongo's `count_documents`;
- count only: the same indexes, totals counted by `api.data.common.count`;
- after: every index `ensure_indexes` creates, and totals counted by `api.data.common.count`.

Each call's pages and totals must be the same in all three (checked), and so must the answers of hot lookups beside
the new indexes (a store product's catalogue entry, ten products' vectors, a key, the count of a shop's products
whose vectors another embedder made, as the catalogue index's status asks it; the last is the catalogue entry's
query as it was before it left the account out), timed before and after. Prints p50 in ms and the load average.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterator

import numpy as np
from pymongo.asynchronous.collection import AsyncCollection

from api.core.security import new_id
from api.data import annotations, common, integrations, jobs, keys, products, reviews
from api.data.db import ensure_indexes, open_client
from kalas import bench

# The single-field indexes added so that nx-27017 answers these lists from an index (collection, field).
ADDED = {("annotations", "account"), ("products", "account"), ("reviews", "account"), ("api_keys", "account"),
         ("jobs", "integration"), ("webhook_deliveries", "integration")}
DATABASE = "bench_lists"
PAGE = 20
# The modules whose `count` (api/data/common.py) the "before" phase replaces by pymongo's `count_documents`.
COUNTING = (common, products)
# (phase, with the added indexes, with common.count)
PHASES = (("before", False, False), ("count only", False, True), ("after", True, True))
# A call slower than BUDGET_S / repeats is timed fewer times (MIN_REPEATS at least), so that the seconds-long calls
# of the "before" side finish in minutes.
MIN_REPEATS, BUDGET_S = 5, 5.0


def _vector(rng: np.random.Generator, n: int) -> list[float]:
    return rng.standard_normal(n).astype(np.float32).tolist()


def seed_documents(rows: int, shops: int, seed: int = 0) -> tuple[dict[str, list[dict]], list[str], list[str]]:
    """{collection: documents}, the shops' ids and their integrations' ids (two a shop). Rows of the shops interleave,
    as shops working side by side leave them."""
    rng, pick = np.random.default_rng(seed), random.Random(seed)
    accounts = [f"shop-{n}" for n in range(shops)]
    stores = [f"{account}-store-{n}" for account in accounts for n in range(2)]
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    docs: dict[str, list[dict]] = {name: [] for name in
                                   ("products", "annotations", "reviews", "jobs", "webhook_deliveries", "api_keys")}
    for i in range(rows):
        account, store = accounts[i % shops], stores[i % len(stores)]
        moment = start + timedelta(seconds=i)
        image = {"_id": new_id(), "width": 800, "height": 1000}
        product = products.new_product(
            account, {"title": f"Linen shirt {i}", "sku": f"SKU-{i}", "tags": ["linen", "summer"], "categories": ["shirts"]},
            [image], {"embeddings": [_vector(rng, 256)], "signals": [_vector(rng, 122)],
                      "embedder": "sha256:old" if (i // shops) % 10 == 0 else "sha256:bench"})
        source = {"integration": store, "product_id": i}
        docs["products"].append(product | {"created": moment, "updated": moment, "source": source,
                                           "store_key": products.store_key(store, i)})
        result = {"category": {"label": "shirt", "score": 0.9}, "attributes": {"sleeve": {"label": "long", "score": 0.8}},
                  "colours": [{"name": "white", "share": 0.7}], "model": {"name": "fashion", "version": "1"}}
        policy = None if i % 2 else {"state": pick.choice(["held", "applied"]), "reasons": []}
        annotation = annotations.new_annotation(account, image, {"kind": "upload"}, None, result, policy)
        annotation |= {"created": moment, "reviewed": i % 3 == 0}
        docs["annotations"].append(annotation)
        review = reviews.new_review(account, annotation["_id"], {"category": "shirt"}, "bench@shops.example")
        docs["reviews"].append(review | {"created": moment})
        epoch = moment.timestamp()
        docs["jobs"].append({"_id": new_id(), "integration": store, "product_id": i, "account": account,
                             "kind": "product", "wait_key": f"{store}:{i}", "reason": "product.updated",
                             "state": pick.choice([jobs.DONE, jobs.DONE, jobs.DONE, jobs.DEAD]),
                             "queued_key": f"claimed:{new_id()}", "attempts": 1, "run_after": epoch,
                             "lease_until": 0.0, "worker": "w", "last_error": None, "outcome": "annotated",
                             "created": epoch, "updated": epoch})
        docs["webhook_deliveries"].append({"_id": new_id(), "integration": store, "delivery_key": f"{i}:{new_id()}",
                                           "received": epoch, "topic": "product.updated", "resource_id": i,
                                           "outcome": "queued"})
        if (i // shops) % 10 == 0:  # a tenth of each shop's rows
            docs["api_keys"].append({"_id": new_id(), "key_id": new_id(), "account": account, "name": f"key {i}",
                                     "prefix": "kls_abcd", "created": moment, "last_used": None, "revoked": None})
    return docs, accounts, stores


def calls(accounts: list[str], stores: list[str]) -> dict[str, Callable[[Any, int, int], Awaitable[tuple[list, int]]]]:
    """Each measured call as (db, shop number, offset) → (page, total)."""
    def store(n: int) -> str:
        return stores[2 * (n % len(accounts))]

    return {
        "review queue": lambda db, n, offset: annotations.review_queue(db, accounts[n], offset, PAGE),
        "annotations": lambda db, n, offset: annotations.list_for(db, accounts[n], offset, PAGE),
        "products": lambda db, n, offset: products.list_for(db, accounts[n], offset, PAGE),
        "jobs": lambda db, n, offset: jobs.list_for(db, accounts[n], store(n), offset, PAGE),
        "jobs (dead)": lambda db, n, offset: jobs.list_for(db, accounts[n], store(n), offset, PAGE, jobs.DEAD),
        "deliveries": lambda db, n, offset: integrations.deliveries(db, store(n), offset, PAGE),
        "reviews": lambda db, n, offset: reviews.list_for(db, accounts[n], offset, PAGE),
        "keys": lambda db, n, offset: keys.list_for(db, accounts[n], offset, PAGE),
    }


def lookups(accounts: list[str], stores: list[str], docs: dict[str, list[dict]]) -> dict[str, Callable[[Any, int], Awaitable[Any]]]:
    """Hot lookups beside the new indexes, each as (db, n) → what identifies its answer: they must not get slower.
    The last is the catalogue entry's query as it was before it left the account out (api/data/integrations.py)."""
    shop_products = [[p for p in docs["products"] if p["account"] == account] for account in accounts]
    shop_keys = [[k for k in docs["api_keys"] if k["account"] == account] for account in accounts]

    def entry(n: int) -> dict:
        return shop_products[n % len(accounts)][(37 * n) % len(shop_products[0])]

    async def catalogue(db: Any, n: int) -> Any:
        found = await integrations.catalogue_product(db, entry(n)["account"], entry(n)["source"]["integration"],
                                                     entry(n)["source"]["product_id"])
        return found and found["_id"]

    async def vectors(db: Any, n: int) -> Any:
        at = (10 * n) % (len(shop_products[0]) - 10)
        ids = [p["_id"] for p in shop_products[n % len(accounts)][at:at + 10]]
        return sorted(p["_id"] for p in await products.vectors(db, accounts[n % len(accounts)], ids))

    async def key(db: Any, n: int) -> Any:
        found = await keys.get(db, accounts[n % len(accounts)], shop_keys[n % len(accounts)][n % len(shop_keys[0])]["key_id"])
        return found and found["key_id"]

    async def by_account_and_key(db: Any, n: int) -> Any:
        found = await db.products.find_one({"account": entry(n)["account"], "store_key": entry(n)["store_key"]},
                                           {"embeddings": 0, "signals": 0})
        return found and found["_id"]

    async def stale(db: Any, n: int) -> Any:  # what the catalogue index's status asks
        return await products.count_made_by_others(db, accounts[n % len(accounts)], "sha256:bench")

    return {"catalogue entry": catalogue, "vectors of 10": vectors, "key": key, "stale vectors (count)": stale,
            "entry by (account, store_key)": by_account_and_key}


@contextmanager
def data_layer(indexes: bool, counts: bool) -> Iterator[None]:
    """The data layer without the change's parts that are False: without `indexes`, `create_index` skips `ADDED`;
    without `counts`, totals come from pymongo's `count_documents` instead of `common.count` (`COUNTING`)."""
    create_index, counts_by = AsyncCollection.create_index, {module: module.count for module in COUNTING}

    async def without_added(self: AsyncCollection, keys: Any, **kwargs: Any) -> str:
        if isinstance(keys, list) and len(keys) == 1 and (self.name, keys[0][0]) in ADDED:
            return ""
        return await create_index(self, keys, **kwargs)

    async def count_documents(collection: AsyncCollection, query: dict) -> int:
        return await collection.count_documents(query)

    if not indexes:
        AsyncCollection.create_index = without_added  # type: ignore[method-assign]
    if not counts:
        for module in COUNTING:
            module.count = count_documents  # type: ignore[attr-defined]
    try:
        yield
    finally:
        AsyncCollection.create_index = create_index  # type: ignore[method-assign]
        for module, count in counts_by.items():
            module.count = count  # type: ignore[attr-defined]


async def time_lookups(db: Any, found: dict[str, Callable[[Any, int], Awaitable[Any]]], repeats: int) -> tuple[dict, dict]:
    """({lookup: p50 ms}, {lookup: its answers})."""
    timings, answers = {}, {}
    for name, lookup in found.items():
        await lookup(db, 0)  # warm-up
        times: list[float] = []
        answers[name] = []
        while len(times) < max(repeats, 50) and (len(times) < MIN_REPEATS or sum(times) < BUDGET_S):
            started = time.perf_counter()
            answers[name].append(await lookup(db, len(times)))
            times.append(time.perf_counter() - started)
        timings[name] = round(float(np.percentile(times, 50)) * 1e3, 3)
    return timings, answers


async def time_calls(db: Any, accounts: list[str], stores: list[str], repeats: int) -> tuple[dict, dict]:
    """({call: {page: p50 ms}}, {call: {page: (ids, total) of shop 0}})."""
    timings: dict[str, dict[str, float]] = {}
    answers: dict[str, dict[str, Any]] = {}
    for name, call in calls(accounts, stores).items():
        timings[name], answers[name] = {}, {}
        for label, offset in (("first page", 0), ("page 10", 9 * PAGE)):
            await call(db, 0, offset)  # warm-up
            times: list[float] = []
            while len(times) < repeats and (len(times) < MIN_REPEATS or sum(times) < BUDGET_S):
                started = time.perf_counter()
                await call(db, len(times) % len(accounts), offset)
                times.append(time.perf_counter() - started)
            found, total = await call(db, 0, offset)
            timings[name][label] = round(float(np.percentile(times, 50)) * 1e3, 2)
            answers[name][label] = ([doc.get("_id", doc.get("key_id")) for doc in found], total)
    return timings, answers


async def measure(uri: str, rows: int, shops: int, repeats: int) -> dict:
    docs, accounts, stores = seed_documents(rows, shops)
    client = open_client(uri)
    try:
        await client.drop_database(DATABASE)
        db = client[DATABASE]
        started = time.perf_counter()
        for name, documents in docs.items():
            for at in range(0, len(documents), 500):
                await db[name].insert_many(documents[at:at + 500])
        seeded_s = time.perf_counter() - started
        hot = lookups(accounts, stores, docs)
        timings, answers, lookup_ms, found = {}, {}, {}, {}
        for phase, indexes, counts in PHASES:  # indexes only ever added: the phases run in this order
            with data_layer(indexes, counts):
                await ensure_indexes(db)
                timings[phase], answers[phase] = await time_calls(db, accounts, stores, repeats)
                if phase != "count only":
                    lookup_ms[phase], found[phase] = await time_lookups(db, hot, repeats)
        differ = sorted({name for phase in answers for name in answers[phase]
                         if answers[phase][name] != answers["before"][name]}
                        | {name for name, after in found["after"].items()  # the calls' answers both sides made
                           if after[:len(found["before"][name])] != found["before"][name][:len(after)]})
        await client.drop_database(DATABASE)
    finally:
        await client.close()
    return {"rows": rows, "shops": shops, "repeats": repeats, "seeded_s": round(seeded_s, 1), "lists_ms": timings,
            "lookups_ms": lookup_ms, "answers_differ": differ,
            "totals": {name: answers["after"][name]["first page"][1] for name in answers["after"]}}


def main(argv: list[str] | None = None) -> int:
    parser = bench.parser(__doc__)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--shops", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    load = bench.Load()
    with bench.database(args.mongo_uri, "lists") as scratch:
        result = asyncio.run(measure(scratch.uri, args.rows, args.shops, args.repeats))
    result["load_average"] = load.figures()
    print(f"{args.rows} rows a collection over {args.shops} shops (keys: a tenth), p50 of up to {args.repeats} in ms "
          f"(at least {MIN_REPEATS}, within about {BUDGET_S:.0f} s a call and page)")
    lists, lookup_ms = result["lists_ms"], result["lookups_ms"]
    print("  lists, before → count only → after")
    for name, pages in lists["after"].items():
        cells = ", ".join(f"{label} " + " → ".join(f"{lists[phase][name][label]:.2f}" for phase, _, _ in PHASES)
                          for label in pages)
        print(f"  {name:14} (total {result['totals'][name]:5}): {cells}")
    print("  lookups, before → after")
    for name, ms in lookup_ms["after"].items():
        print(f"  {name:29}: {lookup_ms['before'][name]:.3f} → {ms:.3f}")
    print(f"answers differ: {result['answers_differ'] or 'none'}; {load.says()}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
