"""A store's catalogue import (api/integrations/catalogue_import.py) on the real database, models and the store
emulator: paged, resumed after a failure from the page it had reached, never doubling a product, writing nothing
to the store, and recording the merchant's categorised products as theirs."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from api.clients.in_process import InProcessClient
from api.data import integrations
from api.integrations.catalogue_import import PAGE_SIZE, import_catalogue
from api.integrations.store_errors import StoreError
from api.integrations.woo_client import WooClient
from api.jobs.woocommerce import WooCommerceJobs
from api.services import Services, open_services
from kalas.emulators.woocommerce import WooCommerceStore
from tests.api.conftest import quiet_step, store_settings

PRODUCTS = 2 * PAGE_SIZE + 5
SHOP = "a1b2c3"  # an account id of the API's form


@asynccontextmanager
async def store_services(settings, served_models, store: WooCommerceStore) -> AsyncIterator[tuple[Services, WooClient]]:
    """The services with the in-process models, and a client of the started `store`; closed after."""
    inference = InProcessClient(dict(served_models))
    client = WooClient(store.url, store.consumer_key, store.consumer_secret)
    try:
        async with open_services(settings, inference=inference) as services:
            yield services, client
    finally:
        await client.aclose()
        await inference.aclose()


@pytest.mark.slow
def test_an_import_cut_off_goes_on_from_its_page_and_doubles_nothing(mongo_server, mongo_database, served_models,
                                                                       tmp_path: Path, shared_data):
    photos = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:PRODUCTS]
    store = WooCommerceStore(default_category="Unkategorisiert").start()  # a German store
    try:
        # Every third product uncategorised (WooCommerce gives it "Unkategorisiert"), the rest the merchant's own.
        for i, photo in enumerate(photos):
            store.create_product(f"Produkt {i}", [photo.read_bytes()], categories=[] if i % 3 == 0 else ["Hemden"],
                                 tags=["Leinen"] if i % 2 else [])
        time.sleep(1.1)  # the store is connected after its products were made (creation times are to the second)
        settings = store_settings(mongo_server, mongo_database, tmp_path, store)
        steps: list[str] = []

        async def step(name: str, detail: str = "", fence: bool = False) -> None:
            steps.append(detail)
            if len(steps) == 1:  # the store fails right after the first page
                store.fail_next(500, times=1)

        async def go():
            async with store_services(settings, served_models, store) as (services, client):
                integration = await integrations.create(services.db, SHOP, {"store_url": store.url})

                async def progress() -> dict:
                    return (await integrations.by_id(services.db, integration["_id"]))["import"]

                async def gave_up(job_id: str, reason: str) -> None:  # the runner's dead letter of the import's job
                    await WooCommerceJobs(services).gave_up({"_id": job_id, "kind": "import",
                                                             "integration": integration["_id"]}, reason)

                async def import_again() -> str:
                    return await import_catalogue(services, await integrations.by_id(services.db, integration["_id"]),
                                                  client, step)

                with pytest.raises(StoreError):
                    await import_catalogue(services, integration, client, step)
                cut_off = await progress()
                await gave_up("j0b", "the store was away")  # the progress says so until the job is retried
                stopped = await progress()
                outcome = await import_again()
                finished = await progress()
                await gave_up("late", "a late dead letter")
                finished_still = await progress()
                again = await import_again()
                stored = await services.db.products.find({"account": SHOP}).to_list(length=None)
                writes = await services.db.store_writes.find({"integration": integration["_id"]}).to_list(length=None)
                index = await services.catalogues.index(services.db, SHOP)
                return cut_off, stopped, finished, finished_still, outcome, again, stored, writes, index.n_vectors

        cut_off, stopped, finished, finished_still, outcome, again, stored, writes, vectors = asyncio.run(go())
    finally:
        store.stop()
    assert (cut_off["state"], cut_off["next_page"], cut_off["imported"]) == ("running", 2, PAGE_SIZE)
    assert stopped == cut_off | {"state": "stopped", "reason": "the store was away", "job": "j0b"}
    assert finished["state"] == "done" and "reason" not in finished and "job" not in finished
    assert finished_still == finished  # an import that was done stays done
    assert outcome.startswith(f"{PRODUCTS} of {PRODUCTS} products imported (0 failed)"), outcome
    assert again == "the store's catalogue was imported already"
    assert [d.split(":")[0] for d in steps] == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]  # page 1 read once
    assert len(stored) == vectors == PRODUCTS  # resumed, nothing doubled
    by_title = {p["title"]: p for p in stored}
    assert by_title["Produkt 1"]["categories"] == ["Hemden"] and by_title["Produkt 1"]["tags"] == ["Leinen"]
    assert store.catalogue.view(by_title["Produkt 3"]["source"]["product_id"])["categories"][0]["name"] == \
        "Unkategorisiert"
    assert by_title["Produkt 3"]["categories"] == [] and by_title["Produkt 0"]["tags"] == []  # the default: nobody's
    assert store.writes == {}  # nothing written to the store
    categorised = sum(1 for i in range(PRODUCTS) if i % 3)
    assert len(writes) == categorised and {w["state"] for w in writes} == {"imported"}


def _import_once(mongo_server, mongo_database, served_models, tmp_path: Path, store: WooCommerceStore,
                 **integration) -> tuple[str, list[dict], list[dict]]:
    """One import of the started `store` into a shop connected just now (its integration's other `integration`
    fields given): (the outcome, the shop's catalogue products, the service's records of writes)."""
    time.sleep(1.1)  # connected after the products were made (creation times are to the second)
    settings = store_settings(mongo_server, mongo_database, tmp_path, store)

    async def go():
        async with store_services(settings, served_models, store) as (services, client):
            made = await integrations.create(services.db, SHOP, {"store_url": store.url, **integration})
            outcome = await import_catalogue(services, made, client, quiet_step)
            stored = await services.db.products.find({"account": SHOP}).to_list(length=None)
            writes = await services.db.store_writes.find({"integration": made["_id"]}).to_list(length=None)
            return outcome, stored, writes

    return asyncio.run(go())


@pytest.mark.slow
def test_an_import_of_a_store_that_lists_every_language_takes_the_stores_own(mongo_server, mongo_database,
                                                                            served_models, tmp_path: Path,
                                                                            shared_data):
    """Polylang for WooCommerce lists every language: the shop's catalogue gets each product once, in the store's
    language, with that language's terms; translations and products in another language only are left out."""
    photos = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:3]
    store = WooCommerceStore().start()
    try:
        store.catalogue.languages, store.catalogue.lists_every_language = ("en", "de"), True
        for n, photo in enumerate(photos[:2]):
            original = store.create_product(f"Shirt {n}", [photo.read_bytes()], categories=["Shirts"])
            store.translate_product(original["id"], "de", f"Hemd {n}")
        store.create_product("Hemd nur auf Deutsch", [photos[2].read_bytes()], categories=["Hemden"], lang="de")
        outcome, stored, _ = _import_once(mongo_server, mongo_database, served_models, tmp_path, store,
                                          store_language="en")
    finally:
        store.stop()
    assert outcome == "2 of 5 products imported (0 failed); 3 in another language than en left out", outcome
    assert sorted((p["title"], p["categories"]) for p in stored) == [("Shirt 0", ["Shirts"]), ("Shirt 1", ["Shirts"])]


@pytest.mark.slow
def test_an_import_keeps_drafts_and_hidden_products_out_of_similar_items(mongo_server, mongo_database, served_models,
                                                                         tmp_path: Path, shared_data):
    """A draft, a product hidden from the shop and a scheduled one are no storefront's similar items: left out of
    the catalogue, and the categorised ones recorded as the merchant's, so that publishing them later writes nothing
    to them. The scheduled product's `date_created_gmt` is the hour it goes on sale, after the connect: it was made
    before, and is the import's, not the webhooks'."""
    photos = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:4]
    store = WooCommerceStore().start()
    try:
        store.create_product("On show", [photos[0].read_bytes()], categories=["Hemden"])
        draft = store.create_product("Draft", [photos[1].read_bytes()], categories=["Hemden"])
        store.catalogue.update_product(draft["id"], {"status": "draft"})
        hidden = store.create_product("Hidden", [photos[2].read_bytes()])
        store.catalogue.update_product(hidden["id"], {"catalog_visibility": "hidden"})
        drop = store.create_product("Drop", [photos[3].read_bytes()], categories=["Hemden"],
                                    scheduled_for=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3))
        outcome, stored, writes = _import_once(mongo_server, mongo_database, served_models, tmp_path, store)
    finally:
        store.stop()
    assert outcome == ("1 of 4 products imported (0 failed); 3 not on show to customers (drafts, private or hidden) "
                       "kept out of similar-item search until they are"), outcome
    assert [p["title"] for p in stored] == ["On show"]
    recorded = {w["product_id"]: w["state"] for w in writes}
    assert recorded.get(draft["id"]) == recorded.get(drop["id"]) == "imported" and hidden["id"] not in recorded


def test_an_import_stops_when_its_store_is_disconnected_and_connected_again(mongo_server, mongo_database,
                                                                           served_models, tmp_path: Path):
    """A shop that disconnects a store mid-import and connects it again gets a new import under the store's former
    id (api/data/integrations.py `create`): the first one stops at its next page, and none of its progress is written
    over the new connection's."""
    store = WooCommerceStore().start()
    try:
        for i in range(2 * PAGE_SIZE):  # photo-less products: each read and counted, nothing embedded
            store.create_product(f"Produkt {i}", categories=["Hemden"])
        time.sleep(1.1)  # connected after the products were made (creation times are to the second)
        settings = store_settings(mongo_server, mongo_database, tmp_path, store)

        async def go():
            async with store_services(settings, served_models, store) as (services, client):
                first = await integrations.create(services.db, SHOP, {"store_url": store.url})

                async def step(name: str, detail: str = "", fence: bool = False) -> None:
                    if detail.startswith("page 1 of"):  # the shop disconnects the store and connects it again
                        assert await integrations.delete(services.db, SHOP, first["_id"])
                        await asyncio.sleep(1.1)  # a connection's time is kept to the millisecond
                        again = await integrations.create(services.db, SHOP, {"store_url": store.url})
                        assert again["_id"] == first["_id"] and again["created"] != first["created"]

                outcome = await import_catalogue(services, first, client, step)
                return outcome, await integrations.by_id(services.db, first["_id"])

        outcome, connected = asyncio.run(go())
    finally:
        store.stop()
    assert outcome == "the store was disconnected while its catalogue was imported: the import stopped", outcome
    assert connected.get("import") is None  # the new connection's import (its own job) starts from page 1
