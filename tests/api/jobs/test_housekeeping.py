"""The daily housekeeping job (api/jobs/housekeeping.py) on the real nx-27017: finished jobs, their steps and
webhook deliveries older than `job_history_days` go, with expired Idempotency-Keys, catalogue changes past a
week, expired console sessions and shop models' arrays whose version was never stored; waiting and running work
and recent history stay; the next run is queued a day later, and a worker start joins it instead of queueing another. A store product's catalogue entries made twice
(before their key was unique) are merged, and the key made unique."""
from __future__ import annotations

import asyncio
import io
import time

import numpy as np
from gridfs import AsyncGridFSBucket
from PIL import Image
from pymongo import ASCENDING

from api.clients.inference import Embedded
from api.data import changes, idempotency, products, sessions, shop_models
from api.domain import catalogue
from api.intake.photo import check
from api.jobs.housekeeping import EVERY_S, HousekeepingJobs, housekeeping_at_start, queue_housekeeping
from api.services import open_services
from tests.api.conftest import image_files, make_settings

DAY = 24 * 3600.0
SHOP = "a1b2c3"


def _job(job_id: str, state: str, age_days: float) -> dict:
    moment = time.time() - age_days * DAY
    return {"_id": job_id, "kind": "product", "state": state, "queued_key": f"key-{job_id}", "wait_key": job_id,
            "run_after": moment, "lease_until": 0.0, "attempts": 1, "created": moment, "updated": moment}


def test_old_history_goes_and_the_next_run_is_queued(mongo_server, mongo_database, tmp_path):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")
    steps: list[tuple[str, str]] = []

    async def step(name: str, detail: str = "", fence: bool = False) -> None:
        steps.append((name, detail))

    async def go():
        async with open_services(settings) as services:
            db = services.db
            await db.jobs.insert_many([_job("old-done", "done", 40), _job("old-dead", "dead", 31),
                                       _job("old-superseded", "superseded", 35), _job("recent-done", "done", 2),
                                       _job("old-queued", "queued", 40), _job("old-running", "running", 40)])
            await db.job_steps.insert_many([{"_id": f"s{n}", "job": "old-done", "at": time.time() - age * DAY}
                                            for n, age in enumerate((40, 31, 1))])
            await db.webhook_deliveries.insert_many([{"_id": f"d{n}", "integration": "i", "delivery_key": f"k{n}",
                                                      "received": time.time() - age * DAY}
                                                     for n, age in enumerate((45, 29))])
            for key, expires_in_s in (("spent", -60.0), ("live", 3600.0)):  # an Idempotency-Key past its time
                await idempotency.claim(db, SHOP, key, "f", lease_s=300, keep_s=expires_in_s)
            await sessions.create(db, SHOP, "ended", ttl_s=-60)  # console sessions that expired
            await sessions.create(db, SHOP, "live", ttl_s=3600)
            await changes.record(db, SHOP, ["p-new"])  # and catalogue changes past KEEP_DAYS
            await db.catalogue_changes.insert_one({"account": SHOP, "seq": 0, "key": changes.key(SHOP, 0),
                                                   "product": "p-old", "at_s": time.time() - 8 * DAY})
            # Shop models' arrays: a stored version's, and two without one: a training that stopped a day ago, and
            # one storing its version now.
            kept = await shop_models.insert_version(db, SHOP, {}, {"memory": np.arange(4.0)}, {})
            bucket = AsyncGridFSBucket(db, bucket_name=shop_models.BUCKET)
            for name, age_s in (("stopped", DAY), ("storing", 1.0)):
                await bucket.upload_from_stream_with_id(name, name, b"npz", metadata={"account": SHOP,
                                                                                  "at_s": time.time() - age_s})
            outcome = await HousekeepingJobs(services).run({"_id": "this-run"}, step)
            left = {"jobs": sorted(j["_id"] for j in await db.jobs.find({"kind": "product"}).to_list(None)),
                    "steps": sorted(s["_id"] for s in await db.job_steps.find({"job": "old-done"}).to_list(None)),
                    "deliveries": sorted(d["_id"] for d in await db.webhook_deliveries.find().to_list(None)),
                    "keys": sorted(k["key"] for k in await db.idempotency_keys.find().to_list(None)),
                    "changes": sorted(c["product"] for c in await db.catalogue_changes.find().to_list(None)),
                    "sessions": sorted(s["_id"] for s in await db.sessions.find().to_list(None)),
                    "arrays": sorted([str(f["_id"]) async for f in db[f"{shop_models.BUCKET}.files"].find({})])}
            left["arrays"] = sorted("version" if name == kept["_id"] else name for name in left["arrays"])
            waiting = await db.jobs.find({"kind": "housekeeping", "state": "queued"}).to_list(None)
            joined = await housekeeping_at_start(services)
            return outcome, left, waiting, joined

    outcome, left, waiting, joined = asyncio.run(go())
    assert left == {"jobs": ["old-queued", "old-running", "recent-done"], "steps": ["s2"], "deliveries": ["d1"],
                    "keys": ["live"], "changes": ["p-new"], "sessions": ["live"], "arrays": ["storing", "version"]}
    assert outcome == ("deleted what was older than 30 days: 3 finished jobs, 2 steps, 1 webhook deliveries; 1 "
                       "expired Idempotency-Keys; 1 catalogue changes older than 7 days; 1 expired console sessions; "
                       "1 shop models' arrays without a version")
    assert steps == [("pruned", "3 jobs, 2 steps, 1 deliveries, 1 expired Idempotency-Keys, 1 catalogue changes, "
                                "1 expired sessions, 1 shop models' arrays without a version")]
    [next_run] = waiting
    assert abs(next_run["run_after"] - (time.time() + EVERY_S)) < 60
    assert joined == next_run  # a worker start joins the waiting run, as it is


def _photo(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (shade, 40, 80)).save(out, "JPEG")
    return out.getvalue()


def test_a_store_product_given_two_entries_keeps_its_newest_and_its_key_is_made_unique(mongo_server, mongo_database,
                                                                                      tmp_path):
    """A database from before the entries' store key was unique, where two worker processes each gave a store
    product an entry: a worker's start brings the waiting run forward; the older entry goes with its photo file and
    its place in the similar-item index, and the key is made unique; the next run has nothing to merge."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             image_dir=tmp_path / "images")

    async def step(name: str, detail: str = "", fence: bool = False) -> None:
        pass

    async def go():
        async with open_services(settings) as services:
            db = services.db
            [unique] = [name for name, index in (await db.products.index_information()).items()
                        if [field for field, _ in index["key"]] == ["store_key"]]
            await db.products.drop_index(unique)
            await db.products.create_index([("store_key", ASCENDING)])  # as it was
            made = []
            for shade in (10, 200):  # the store product's entry, made twice; then a shop's own product
                photo = await check(_photo(shade), None, settings.max_upload_bytes)
                vector = np.zeros(8, dtype=np.float32)
                vector[shade % 8] = 1.0
                made.append(await catalogue.create_product(
                    db, services.images, services.catalogues, None, SHOP, {"title": "Linen shirt", "store_key": "I:7"},
                    [photo], ([Embedded(vector, None)], None)))
            await catalogue.create_product(db, services.images, services.catalogues, None, SHOP, {"title": "Own"},
                                           [await check(_photo(90), None, settings.max_upload_bytes)],
                                           ([Embedded(np.eye(8, dtype=np.float32)[3], None)], None))
            waiting = await queue_housekeeping(services, "the next day's housekeeping", delay_s=EVERY_S)
            started = await housekeeping_at_start(services)  # a worker started on this database
            first = await HousekeepingJobs(services).run({"_id": "run-1"}, step)
            second = await HousekeepingJobs(services).run({"_id": "run-2"}, step)
            left = sorted(p["_id"] for p in await db.products.find({"account": SHOP}).to_list(None))
            index = await services.catalogues.index(db, SHOP)
            return made, first, second, left, index.n_vectors, await products.unique_store_keys(db), (waiting, started)

    made, first, second, left, vectors, unique, (waiting, started) = asyncio.run(go())
    assert started["_id"] == waiting["_id"] and started["run_after"] <= time.time()  # today, not in a day
    older, newer = made
    assert first.endswith("; 1 catalogue entries of store products made twice") and "made twice" not in second
    assert older["_id"] not in left and newer["_id"] in left and len(left) == 2
    assert vectors == 2 and len(image_files(settings)) == 2 and unique
