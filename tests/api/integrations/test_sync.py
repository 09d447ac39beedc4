"""The sync's second look, at the store's scheduled products (api/integrations/sync.py), against the store emulator
and nx-27017: WordPress's cron publishes one without a webhook (before WooCommerce 10.8) and without a new
modification time, so only the sync's memory of what was scheduled finds it."""
import datetime as dt
import time

from api.data import integrations, jobs
from api.integrations.sync import sync_store
from api.integrations.woo_client import PAGE_SIZE, WooClient
from tests.api.conftest import on_database


def test_scheduled_products_published_since_the_last_sync_are_read_again_and_queued(mongo_server, mongo_database,
                                                                                    woo_store):
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    drops = [woo_store.create_product(f"Drop {n}", [b"\xff\xd8 a photo"], scheduled_for=at) for n in range(250)]
    later = woo_store.create_product("Next season", [b"\xff\xd8 a photo"], scheduled_for=at + dt.timedelta(days=90))
    with woo_store.catalogue.lock:  # made yesterday, and the syncs' window starts after: only the scheduled look
        for product in woo_store.catalogue.products.values():  # finds them
            product["date_modified"] = product["date_modified_gmt"] = "2026-01-01T00:00:00"
    since = "2026-06-01T00:00:00"

    async def scenario(db):
        integration = await integrations.create(db, "a1b2c3", {"store_url": woo_store.url})
        await integrations.record_sync(db, integration["_id"], {"next_after": since})
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=5)
        asked: list[dict] = []
        products = client.products

        def spy(params: dict):
            asked.append(params)
            return products(params)

        client.products = spy
        try:
            first = await sync_store(db, await integrations.by_id(db, integration["_id"]), client)
            time.sleep(max(0.0, (at - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.0)
            published = woo_store.run_cron()
            asked.clear()
            second = await sync_store(db, await integrations.by_id(db, integration["_id"]), client)
            queued = await db.jobs.count_documents({"integration": integration["_id"], "state": jobs.QUEUED})
            third = await sync_store(db, await integrations.by_id(db, integration["_id"]), client)
            return first, published, asked, second, queued, third
        finally:
            await client.aclose()

    first, published, asked, second, queued, third = on_database(mongo_server, mongo_database, scenario)
    assert (first["listed"], first["queued"], first["scheduled"]) == (0, 0, 251)
    assert sorted(p["id"] for p in published) == sorted(d["id"] for d in drops)
    assert second["scheduled_ids"] == [later["id"]] and (second["published"], second["queued"]) == (250, 250)
    assert queued == 250  # not annotated yet, as the store's products made while the service was away
    reads = [len(p["include"].split(",")) for p in asked if "include" in p]
    assert reads == [PAGE_SIZE, PAGE_SIZE, 50]  # a page's worth of ids a request: no request line near 8 KB
    assert (third["published"], third["queued"], third["scheduled"]) == (0, 0, 1)  # nothing read twice


def test_a_sync_while_the_import_runs_leaves_it_the_products_that_were_there_at_the_connect(mongo_server,
                                                                                            mongo_database, woo_store):
    """A first sync lists every product: while the catalogue import is on an earlier page (or stopped until retried),
    the store's products from before the connect are its, not a job each; one made since is queued."""
    before = [woo_store.create_product(f"Old {n}", [b"\xff\xd8 a photo"], categories=["Hemden"] if n % 2 else [])
              for n in range(4)]
    time.sleep(1.1)  # connected after those were made (creation times are to the second)

    async def scenario(db):
        integration = await integrations.create(db, "a1b2c3", {"store_url": woo_store.url})
        time.sleep(1.1)
        made_since = woo_store.create_product("New", [b"\xff\xd8 a photo"])
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=5)
        try:
            summaries = []
            for state in ("running", "stopped", "done"):
                await integrations.record_import(db, integration["_id"], {"state": state, "next_page": 2})
                await db.jobs.delete_many({"integration": integration["_id"]})
                await integrations.record_sync(db, integration["_id"], {})  # each a first sync: every product listed
                summary = await sync_store(db, await integrations.by_id(db, integration["_id"]), client)
                queued = await db.jobs.find({"integration": integration["_id"]}).to_list(length=None)
                summaries.append((summary["listed"], sorted(job["product_id"] for job in queued)))
            return made_since, summaries
        finally:
            await client.aclose()

    made_since, (running, stopped, done) = on_database(mongo_server, mongo_database, scenario)
    assert running == stopped == (5, [made_since["id"]])
    assert done == (5, sorted([made_since["id"]] + [p["id"] for p in before]))  # the import over: a job each
