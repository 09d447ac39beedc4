"""The worker's catalogue step (api/jobs/woocommerce.py) on the real database and models: a store product's
photo enters the shop's similar-item catalogue, with the embedding its annotation came with when that is the
embedder's network, and a disk that cannot take it is a retryable job failure that leaves nothing behind; a
variation's job leaves it to its parent, a translation's to its original."""
from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from api.clients.in_process import InProcessClient
from api.domain.embedding import made_by_annotation
from api.domain.errors import DomainError
from api.data import integrations
from api.integrations.catalogue_import import import_product
from api.jobs.woocommerce import add_to_catalogue
from api.services import open_services
from tests.api.conftest import make_settings, quiet_step, store_settings
from tests.support.data_dirs import files_under

ACCOUNT, INTEGRATION = "a1b2c3", "d4e5f6"
PRODUCT = {"id": 17, "name": "Linen shirt", "permalink": "https://shop.example/linen-shirt"}


class CountingClient(InProcessClient):
    """The in-process models, counting the embedder's calls."""

    embed_calls = 0

    async def embed(self, images):
        self.embed_calls += 1
        return await super().embed(images)


def _add(mongo_server, mongo_database, served_models, tmp_path: Path, image_dir: Path, photo: bytes):
    """(catalogue product id or None, the DomainError or None, (products, images) stored afterwards)."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", image_dir=image_dir)

    async def go():
        inference = InProcessClient(dict(served_models))
        product_id = failure = None
        try:
            async with open_services(settings, inference=inference) as services:
                try:
                    product_id, _ = await add_to_catalogue(services, {"account": ACCOUNT,
                                                                      "integration": INTEGRATION}, PRODUCT, photo)
                except DomainError as error:
                    failure = error
                return product_id, failure, (await services.db.products.count_documents({}),
                                             await services.db.images.count_documents({}))
        finally:
            await inference.aclose()

    return asyncio.run(go())


@pytest.mark.slow
def test_a_store_photo_enters_the_catalogue_with_its_file(mongo_server, mongo_database, served_models, tmp_path,
                                                          shared_data):
    photo = next((shared_data / "fashion-products" / "images").glob("*.jpg")).read_bytes()
    images = tmp_path / "images"
    product_id, failure, counts = _add(mongo_server, mongo_database, served_models, tmp_path, images, photo)
    assert failure is None and product_id and counts == (1, 1)
    [stored] = files_under(images)
    assert stored.read_bytes() == photo and stored.parent.name == ACCOUNT
    # The worker builds no index of its own: the API's replicas build theirs from the database when they search.
    assert not (tmp_path / "indexes" / ACCOUNT).exists()


@pytest.mark.slow
def test_a_disk_that_cannot_take_the_photo_is_a_retryable_failure_leaving_nothing(mongo_server, mongo_database,
                                                                                  served_models, tmp_path, shared_data):
    photo = next((shared_data / "fashion-products" / "images").glob("*.jpg")).read_bytes()
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    (image_dir / ACCOUNT).write_bytes(b"")  # the shop's own directory would have to be made where a file is
    product_id, failure, counts = _add(mongo_server, mongo_database, served_models, tmp_path, image_dir, photo)
    assert product_id is None and failure is not None and failure.retryable
    assert "could not be stored" in str(failure)
    assert counts == (0, 0)


@pytest.mark.slow
def test_the_annotations_embedding_enters_the_catalogue_without_a_second_model_call(
        mongo_server, mongo_database, served_models, tmp_path, shared_data):
    photo = next((shared_data / "fashion-products" / "images").glob("*.jpg")).read_bytes()
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             image_dir=tmp_path / "images")

    async def go():
        inference = CountingClient(dict(served_models))
        try:
            [answer] = await inference.annotate([photo])
            unknown = made_by_annotation(answer, inference)  # which network the embedder is: not known yet
            [embedded] = await inference.embed([photo])
            made = made_by_annotation(answer, inference)
            other = made_by_annotation({**answer, "model": {**answer["model"], "digest": "another network"}}, inference)
            async with open_services(settings, inference=inference) as services:
                calls = inference.embed_calls
                product_id, _ = await add_to_catalogue(services, {"account": ACCOUNT, "integration": INTEGRATION},
                                                       PRODUCT, photo, None, made)
                stored = await services.db.products.find_one({"_id": product_id})
                return unknown, embedded, made, other, inference.embed_calls - calls, stored
        finally:
            await inference.aclose()

    unknown, embedded, made, other, embed_calls, stored = asyncio.run(go())
    assert unknown is None and other is None
    [vector], identity = made
    # The attributes model answers the embedder's own vector and signals (one network, two heads' worth of answers).
    np.testing.assert_allclose(vector.vector, embedded.vector, atol=1e-5)
    np.testing.assert_allclose(vector.signals, embedded.signals, atol=1e-5)
    assert embed_calls == 0
    assert stored["embedder"] == identity["digest"]
    np.testing.assert_allclose(stored["embeddings"][0], vector.vector, atol=1e-6)


class MeetingClient(InProcessClient):
    """The in-process models, whose embedder answers its first call only once every client of the `meeting` has
    asked it: each has looked for the product's catalogue entry before, and found none."""

    def __init__(self, models, meeting: asyncio.Barrier) -> None:
        super().__init__(models)
        self.meeting: asyncio.Barrier | None = meeting

    async def embed(self, images):
        if self.meeting is not None:
            meeting, self.meeting = self.meeting, None
            async with asyncio.timeout(60):  # a maker that never asks fails the test instead of hanging it
                await meeting.wait()
        return await super().embed(images)


@pytest.mark.slow
def test_two_worker_processes_making_one_store_products_entry_make_one(mongo_server, mongo_database, served_models,
                                                                      tmp_path, shared_data, woo_store):
    """The import in one worker process and the product's webhook job in another, both finding no catalogue entry
    for the store product (each process's lock is its own): one entry is made, the other maker gives that one its
    photos, and nothing of the second is left (photos, files, vectors)."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             image_dir=tmp_path / "images", fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    photo = next((shared_data / "fashion-products" / "images").glob("*.jpg")).read_bytes()
    product = woo_store.create_product("Linen shirt", [photo], categories=["Hemden"])

    async def go():
        meeting = asyncio.Barrier(2)
        importer, webhook = MeetingClient(dict(served_models), meeting), MeetingClient(dict(served_models), meeting)
        try:
            async with open_services(settings, inference=importer) as one, \
                    open_services(settings, inference=webhook) as another:
                integration = await integrations.create(one.db, ACCOUNT, {"store_url": woo_store.url})
                imported, (made, _) = await asyncio.gather(
                    import_product(one, integration, product),
                    add_to_catalogue(another, {"account": ACCOUNT, "integration": integration["_id"]}, product, photo))
                entries = await one.db.products.find({"account": ACCOUNT}).to_list(None)
                stored_images = await one.db.images.count_documents({})
                index = await one.catalogues.index(one.db, ACCOUNT)
                return imported, made, entries, stored_images, index.n_vectors
        finally:
            await importer.aclose()
            await webhook.aclose()

    imported, made, entries, stored_images, vectors = asyncio.run(go())
    [entry] = entries
    assert imported["_id"] == made == entry["_id"]
    assert entry["categories"] == ["Hemden"] and entry["store_key"].endswith(f":{product['id']}")
    assert stored_images == vectors == len(files_under(tmp_path / "images")) == 1


def _product_job(settings, store, product_id: int) -> tuple[str, dict, list]:
    """A product job run by the worker's kinds on a store connected just now: (its outcome, the integration
    afterwards, the steps it recorded)."""
    [outcome], integration, steps, _ = _product_jobs(settings, store, [product_id])
    return outcome, integration, steps


def _product_jobs(settings, store, product_ids: list[int], served_models=None,
                  read=None) -> tuple[list, dict, list, object]:
    """Product jobs, one after another, run by the worker's kinds (on `served_models` in process, when given) on a
    store connected just now: (their outcomes, the integration afterwards, the steps they recorded, what `read`,
    an async function of the services and the integration, found afterwards)."""
    from api.jobs.woocommerce import WooCommerceJobs

    steps: list = []

    async def step(name: str, detail: str = "", fence: bool = False) -> None:
        steps.append((name, detail))

    async def go():
        inference = InProcessClient(dict(served_models)) if served_models is not None else None
        try:
            async with open_services(settings, inference=inference) as services:
                vault = services.vault
                integration = await integrations.create(services.db, ACCOUNT, {
                    "store_url": store.url, "consumer_key": vault.seal(store.consumer_key),
                    "consumer_secret": vault.seal(store.consumer_secret)})
                kinds = WooCommerceJobs(services)
                try:
                    outcomes = [await kinds.run({"kind": "product", "account": ACCOUNT,
                                                 "integration": integration["_id"], "product_id": product_id}, step)
                                for product_id in product_ids]
                finally:
                    await kinds.aclose()
                found = await read(services, integration) if read is not None else None
                return outcomes, await integrations.by_id(services.db, integration["_id"]), steps, found
        finally:
            if inference is not None:
                await inference.aclose()

    return asyncio.run(go())


def test_a_job_for_a_variation_leaves_it_to_its_parent(mongo_server, mongo_database, tmp_path, woo_store):
    """However a variation's job came to be (a retried delivery from before the route ignored them), the job reads
    the product and leaves it alone."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    parent, [variation] = woo_store.create_variable_product("Tee", [b"\xff\xd8 a photo"], ["M"])
    outcome, _, steps = _product_job(settings, woo_store, variation["id"])
    assert outcome == f"a variation of product {parent['id']}, which is annotated itself"
    assert steps == [] and woo_store.writes == {}


def test_a_job_for_a_translation_learns_the_stores_language_and_leaves_it_to_the_original(
        mongo_server, mongo_database, tmp_path, woo_store):
    """A store connected before WPML was set up (or while it had no product) has no language recorded: the first job
    for a product that carries one reads it from the store's listing, records it for the deliveries to come, and
    leaves a translation to its original; nothing is fetched, annotated or written."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    woo_store.catalogue.languages = ("en", "de")
    original = woo_store.create_product("Wool coat", [b"\xff\xd8 a photo"])
    translation = woo_store.translate_product(original["id"], "de", "Wollmantel")
    outcome, integration, steps = _product_job(settings, woo_store, translation["id"])
    assert outcome == (f"a translation (de) of product {original['id']}, which is annotated itself: the store copies "
                       "a product's categories and tags to its translations")
    assert integration["store_language"] == "en"
    assert steps == [] and woo_store.writes == {}  # not even "product read": no photo fetched


def test_a_store_whose_address_is_private_when_a_job_runs_is_not_called(mongo_server, mongo_database, tmp_path,
                                                                        woo_store):
    """A store connected while its host answered a public address, which now answers a private one: the worker's
    client checks each request where it leaves, so the job fails for good, saying why, and the store sees nothing."""
    from api.integrations.store_errors import StoreError
    from api.jobs.woocommerce import WooCommerceJobs

    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    product = woo_store.create_product("Tee", [b"\xff\xd8 a photo"])

    async def step(name: str, detail: str = "", fence: bool = False) -> None:
        pass

    async def go():
        async with open_services(settings) as services:
            vault = services.vault
            integration = await integrations.create(services.db, ACCOUNT, {  # "localhost" is not let through
                "store_url": f"http://localhost:{woo_store.port}", "consumer_key": vault.seal(woo_store.consumer_key),
                "consumer_secret": vault.seal(woo_store.consumer_secret)})
            kinds = WooCommerceJobs(services)
            try:
                with pytest.raises(StoreError) as caught:
                    await kinds.run({"kind": "product", "account": ACCOUNT, "integration": integration["_id"],
                                     "product_id": product["id"]}, step)
                return caught.value
            finally:
                await kinds.aclose()

    refused = asyncio.run(go())
    assert not refused.retryable and "localhost resolves to a private" in refused.message
    assert woo_store.writes == {}


@pytest.mark.slow
def test_a_product_the_merchant_categorised_before_the_connect_is_the_imports_whatever_comes_first(
        mongo_server, mongo_database, served_models, tmp_path, woo_store, shared_data):
    """A webhook or a sync can reach a product of the store's catalogue at connect before the import does (the import
    waits for a retry, or stopped): categorised by the merchant, it is imported, nothing written; one the merchant
    left uncategorised is annotated and written as any other."""
    import time

    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             image_dir=tmp_path / "images",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    photos = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:2]
    shirt = woo_store.create_product("Leinenhemd", [photos[0].read_bytes()], categories=["Hemden"])
    bare = woo_store.create_product("Ohne Kategorie", [photos[1].read_bytes()])
    time.sleep(1.1)  # connected after its products were made (creation times are to the second)

    async def read(services, integration):
        return (await integrations.our_write(services.db, integration["_id"], shirt["id"]),
                await integrations.catalogue_product(services.db, ACCOUNT, integration["_id"], shirt["id"]))

    (imported, annotated, again), _, _, (record, entry) = _product_jobs(
        settings, woo_store, [shirt["id"], bare["id"], shirt["id"]], served_models, read)
    assert imported.startswith("categorised by the merchant before the store was connected: imported"), imported
    assert record["state"] == "imported" and entry["categories"] == ["Hemden"]
    assert again.startswith("already annotated for its current photos"), again
    assert shirt["id"] not in woo_store.writes  # the merchant's product: nothing written
    assert annotated.startswith("category ") and len(woo_store.writes[bare["id"]]) == 1, annotated


def test_a_store_disconnected_while_its_job_ran_is_not_written_to(mongo_server, mongo_database, tmp_path, woo_store):
    """A job reads its integration at its start; the shop disconnects the store while the job waits on a slow store:
    at the write, nothing is written, no term made."""
    from api.domain.errors import DomainError
    from api.integrations.policy import Decision
    from api.integrations.woo_client import WooClient
    from api.jobs.woocommerce import write_back

    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    product = woo_store.create_product("Tee", [b"\xff\xd8 a photo"])
    terms_before = {kind: len(terms) for kind, terms in woo_store.catalogue.terms.items()}

    async def go():
        async with open_services(settings) as services:
            integration = await integrations.create(services.db, ACCOUNT, {"store_url": woo_store.url})
            await services.db.integrations.delete_one({"_id": integration["_id"]})  # disconnected meanwhile
            client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret)
            try:
                with pytest.raises(DomainError) as refused:
                    await write_back(services, integration["_id"], client, woo_store.catalogue.view(product["id"]),
                                     Decision("T-Shirt", ("Men",), "leaf", "fashion-attributes:1"), None)
                return refused.value
            finally:
                await client.aclose()

    refused = asyncio.run(go())
    assert refused.code == "integration_gone" and not refused.retryable
    assert woo_store.writes == {} and {k: len(t) for k, t in woo_store.catalogue.terms.items()} == terms_before


@pytest.mark.slow
def test_a_photo_a_store_lists_twice_is_fetched_and_kept_once(mongo_server, mongo_database, served_models, tmp_path,
                                                              woo_store, shared_data):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             image_dir=tmp_path / "images", fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    photos = [path.read_bytes() for path in sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:2]]
    made = woo_store.create_product("Tee", photos, categories=["Hemden"])
    with woo_store.catalogue.lock:  # an importer's product: its main photo listed again after the second
        stored = woo_store.catalogue.products[made["id"]]
        stored["images"] = stored["images"] + [dict(stored["images"][0]), dict(stored["images"][0])]
    product = woo_store.catalogue.view(made["id"])

    async def go():
        inference = InProcessClient(dict(served_models))
        try:
            async with open_services(settings, inference=inference) as services:
                integration = await integrations.create(services.db, ACCOUNT, {"store_url": woo_store.url})
                return await import_product(services, integration, product)
        finally:
            await inference.aclose()

    entry = asyncio.run(go())
    assert len(product["images"]) == 4 and len(entry["images"]) == 2


@pytest.mark.slow
def test_a_write_that_landed_though_its_answer_never_came_is_not_made_again(mongo_server, mongo_database,
                                                                            served_models, tmp_path: Path,
                                                                            shared_data: Path):
    """A store that drops the marker and answers a PUT it has made too late for the worker: the next attempt finds
    the write's terms on the product (the service's record says "writing") and takes it as made, instead of
    annotating and writing the product again at every attempt (found by an independent store check: 8 writes)."""
    import time

    from api.jobs.woocommerce import WooCommerceJobs
    from kalas.emulators.woocommerce import WooCommerceStore

    photo = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[0].read_bytes()
    store = WooCommerceStore().start()
    store.catalogue.strips_meta_data = True
    try:
        product = store.create_product("Slow to answer", [photo])
        time.sleep(1.1)  # connected after the product was made
        settings = store_settings(mongo_server, mongo_database, tmp_path, store)

        async def go():
            inference = InProcessClient(dict(served_models))
            try:
                async with open_services(settings, inference=inference) as services:
                    vault = services.vault
                    made = await integrations.create(services.db, ACCOUNT, {
                        "store_url": store.url, "consumer_key": vault.seal(store.consumer_key),
                        "consumer_secret": vault.seal(store.consumer_secret), "webhook_secret": vault.seal("s" * 32),
                        "policy": {"target": "0.90"}})
                    worker = WooCommerceJobs(services, store_timeout_s=1.0)
                    job = {"_id": "j1", "kind": "product", "account": ACCOUNT, "integration": made["_id"],
                           "product_id": product["id"]}
                    store.put_answer_delay_s = 2.0
                    try:
                        with pytest.raises(Exception) as first:
                            await worker.run(job, quiet_step)
                        second = await worker.run(job, quiet_step)
                    finally:
                        store.put_answer_delay_s = 0.0
                        await worker.aclose()
                    written = await integrations.our_write(services.db, made["_id"], product["id"])
                    return first.value, second, written, await services.db.annotations.count_documents({})
            finally:
                await inference.aclose()

        first, second, written, annotated = asyncio.run(go())
    finally:
        store.stop()
    assert "timed out" in str(first).lower() or "timeout" in str(first).lower(), first
    assert second.startswith("already annotated for its current photos"), second
    assert len(store.writes[product["id"]]) == 1 and annotated == 1 and written["state"] == "written"
