"""Reconciliation without anyone asking (api/jobs/store_syncs.py, api/integrations/sync.py) on the real nx-27017 and
the store emulator: each round queues every connected store's sync once (a sync already waiting is kept) and the
next round; a sync queues exactly the store products the service is not in step with, whatever the store does with
`meta_data`."""
from __future__ import annotations

import asyncio
import time

from api.data import integrations, jobs, products
from api.integrations.merge import images_fingerprint
from api.integrations.sync import sync_store
from api.integrations.woo_client import WooClient
from api.jobs.store_syncs import StoreSyncJobs, queue_store_syncs
from api.services import open_services
from tests.api.conftest import make_settings

ACCOUNT = "shop-1"


def _noting(steps: list):
    async def step(name: str, detail: str = "", fence: bool = False) -> None:
        steps.append((name, detail))
    return step


def test_a_round_queues_each_stores_sync_once_and_the_next_round(mongo_server, mongo_database, tmp_path):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", store_sync_minutes=10)
    steps: list = []

    async def go():
        async with open_services(settings) as services:
            db = services.db
            first = await integrations.create(db, ACCOUNT, {"store_url": "https://one.example"})
            second = await integrations.create(db, "shop-2", {"store_url": "https://two.example"})
            asked, _ = await jobs.enqueue(db, "shop-2", second["_id"], None, "asked for from the console")
            started = await queue_store_syncs(services, "worker started")
            outcome = await StoreSyncJobs(services).run(started, _noting(steps))
            syncs = await db.jobs.find({"kind": "sync", "state": "queued"}).to_list(None)
            rounds = await db.jobs.find({"kind": "store_syncs", "state": "queued"}).to_list(None)
            joined = await queue_store_syncs(services, "another worker started")
            return first, second, asked, started, outcome, syncs, rounds, joined

    first, second, asked, started, outcome, syncs, rounds, joined = asyncio.run(go())
    assert abs(started["run_after"] - (time.time() + 600)) < 60  # the first round waits its period
    assert sorted((j["integration"], j["account"]) for j in syncs) == sorted(
        [(first["_id"], ACCOUNT), (second["_id"], "shop-2")])
    assert next(j for j in syncs if j["integration"] == second["_id"])["_id"] == asked["_id"]  # kept, not doubled
    assert outcome == "2 store(s): 1 sync(s) queued, 1 waiting already"
    assert steps == [("queued", "1 store sync(s); 1 waiting already")]
    # Both rounds share one wait key: the round queued for the next period is the one a worker start joins.
    [next_round] = rounds
    assert joined["_id"] == next_round["_id"] and abs(next_round["run_after"] - (time.time() + 600)) < 60


def test_a_worker_started_with_a_shorter_period_brings_the_waiting_round_forward(mongo_server, mongo_database,
                                                                                tmp_path):
    def settings(minutes: float):
        return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             store_sync_minutes=minutes)

    async def go():
        async with open_services(settings(60)) as services:
            hourly = await queue_store_syncs(services, "worker started")
        async with open_services(settings(1)) as services:
            sooner = await queue_store_syncs(services, "worker started with 1 minute")
        async with open_services(settings(60)) as services:
            later = await queue_store_syncs(services, "worker started with 60 minutes again")
            waiting = await services.db.jobs.find({"kind": "store_syncs"}).to_list(None)
        return hourly, sooner, later, waiting

    hourly, sooner, later, [waiting] = asyncio.run(go())
    assert hourly["_id"] == sooner["_id"] == later["_id"] == waiting["_id"]
    assert abs(hourly["run_after"] - (time.time() + 3600)) < 60
    assert abs(waiting["run_after"] - (time.time() + 60)) < 30 and later["run_after"] == waiting["run_after"]


def test_no_round_when_store_syncs_are_off(mongo_server, mongo_database, tmp_path):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", store_sync_minutes=0)

    async def go():
        async with open_services(settings) as services:
            await integrations.create(services.db, ACCOUNT, {"store_url": "https://one.example"})
            queued = await queue_store_syncs(services, "worker started")
            outcome = await StoreSyncJobs(services).run({"_id": "a-round-from-before"}, _noting([]))
            return queued, outcome, await services.db.jobs.count_documents({})

    queued, outcome, count = asyncio.run(go())
    assert queued is None and count == 0
    assert outcome == "store syncs are off (store_sync_minutes is 0): none queued"


def test_a_sync_queues_only_what_the_service_is_not_in_step_with(mongo_server, mongo_database, tmp_path, woo_store):
    """The store drops `meta_data` (no marker ever comes back): the service's own records say which products it
    wrote or holds for review; a merchant's change of terms found by the sync is queued like a delivery of it, and
    so is an annotated product on show without its catalogue entry (restored from the trash and published) and one
    not on show with an entry (made a draft); a draft without one is in step."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")
    woo_store.catalogue.strips_meta_data = True
    photo = b"\xff\xd8 not looked at by a sync"
    held = woo_store.create_product("Held for review", [photo])
    written = woo_store.create_product("Written back", [photo], tags=["Merchant"])
    never_seen = woo_store.create_product("Never delivered", [photo])
    recategorised = woo_store.create_product("Moved by the merchant", [photo], categories=["Hemden"])
    unchanged = woo_store.create_product("Same terms", [photo], categories=["Hosen"])
    no_entry = woo_store.create_product("Restored from the trash", [photo])
    no_photo = woo_store.create_product("No photo yet")
    made_draft = woo_store.create_product("Made a draft", [photo])
    draft = woo_store.create_product("Still a draft", [photo])
    for product in (made_draft, draft):
        woo_store.catalogue.update_product(product["id"], {"status": "draft"})

    async def go():
        async with open_services(settings) as services:
            db = services.db
            integration = await integrations.create(db, ACCOUNT, {"store_url": woo_store.url})
            for product, state in ((held, "held"), (written, "written"), (recategorised, "written"),
                                   (unchanged, "written"), (no_entry, "written"), (made_draft, "written"),
                                   (draft, "written")):
                await integrations.record_write(db, integration["_id"], product["id"],
                                                {"images": images_fingerprint(product)}, state)
            for product, categories, tags in ((held, [], []), (written, [], ["Merchant"]),
                                              (recategorised, ["Blusen"], []), (unchanged, ["Hosen"], []),
                                              (made_draft, [], [])):
                await db.products.insert_one({"_id": f"entry-{product['id']}", "account": ACCOUNT,
                                              "store_key": products.store_key(integration["_id"], product["id"]),
                                              "categories": categories, "tags": tags})
            client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=5)
            try:
                summary = await sync_store(db, integration, client)
            finally:
                await client.aclose()
            queued = await db.jobs.find({"kind": "product"}).to_list(None)
            return summary, sorted(j["product_id"] for j in queued)

    summary, queued = asyncio.run(go())
    assert summary["listed"] == 9 and summary["queued"] == 4
    assert queued == sorted([never_seen["id"], recategorised["id"], no_entry["id"], made_draft["id"]])
    assert no_photo["id"] not in queued and held["id"] not in queued and written["id"] not in queued
    assert draft["id"] not in queued

