"""A shop's export, then its deletion: every kind of document it owns, its image files, its index directory and its
webhooks in its store are gone afterwards, and another shop's are untouched."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
from pymongo import MongoClient

from api.data import shop_models
from api.data.ownership import _queries
from kalas.emulators.woocommerce import WooCommerceStore
from kalas.shop_model import MIN_EXAMPLES
from kalas.stack.live import wait_for
from tests.api.conftest import PASSWORD, create_shop, make_settings, model_app

SECRET = "webhook secret typed in wp-admin"


def owned(settings, account_id: str) -> dict[str, int]:
    """Documents per collection the shop owns, counted straight from the database."""
    import asyncio

    from api.data.db import open_client

    async def count() -> dict[str, int]:
        client = open_client(settings.mongo_uri)
        try:
            db = client[settings.database]
            return {name: await db[name].count_documents(query) for name, query in (await _queries(db, account_id)).items()}
        finally:
            await client.close()

    return asyncio.run(count())


def model_files(settings, account_id: str) -> int:
    """The shop's models' arrays in GridFS (nx-27017's `.files` answers find, not count_documents)."""
    with MongoClient(settings.mongo_uri) as mongo:
        files = mongo[settings.database][f"{shop_models.BUCKET}.files"].find({}, {"metadata": 1})
        return sum(f["metadata"]["account"] == account_id for f in files)


def test_a_shop_exports_then_deletes_everything_it_owns(mongo_server, mongo_database, tmp_path, image_host, photos,
                                                        served_models):
    store, former = WooCommerceStore().start(), WooCommerceStore().start()
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({image_host.origin, f"127.0.0.1:{store.port}",
                                                            f"127.0.0.1:{former.port}"}))
    try:
        with model_app(settings, served_models) as client:
            shop, other = create_shop(client), create_shop(client, "shop-b")
            account_id = client.get("/api/v1/auth/me", headers=shop.headers).json()["id"]
            for i in range(MIN_EXAMPLES):  # enough products of one own category for the shop's model to train
                made = client.post("/api/v1/products/upload", headers=shop.headers,
                                   data={"title": f"p{i}", "categories": '["Kategorie"]'},
                                   files=[("images", ("p.jpg", photos[i % 2]))])
                assert made.status_code == 201, made.text
            client.post("/api/v1/products/upload", headers=other.headers, data={"title": "theirs"},
                        files=[("images", ("p.jpg", photos[3]))])
            annotation = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[2])}).json()
            assert client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers,
                               json={"category": "tshirt"}).status_code == 201
            client.post("/api/v1/callbacks", headers=shop.headers, json={"url": image_host.url("/echo/account")})
            client.post("/api/v1/annotations", headers=shop.headers | {"Idempotency-Key": "b"},
                        files={"file": ("b.jpg", photos[4])})
            integration = client.post("/api/v1/integrations", headers=shop.session, json={
                "store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
                "webhook_secret": SECRET}).json()
            assert integration["webhooks"]["state"] == "registered"
            disconnected = client.post("/api/v1/integrations", headers=shop.session, json={  # a former store
                "store_url": former.url, "consumer_key": former.consumer_key,
                "consumer_secret": former.consumer_secret, "webhook_secret": SECRET}).json()
            assert client.delete(f"/api/v1/integrations/{disconnected['id']}", headers=shop.session).status_code == 204
            webhook = store.catalogue.webhooks[integration["webhooks"]["ids"]["product.created"]]
            product = store.catalogue.create_product({"name": "store tee"}, [store.upload(photos[5])])
            delivery = store.signed_delivery(webhook, product)
            path = integration["delivery_url"].split("://", 1)[1].split("/", 1)[1]
            assert client.post("/" + path, content=delivery.body, headers=delivery.headers).status_code == 200
            wait_for(lambda: store.writes.get(product["id"]), 60, "the product written back")  # by the worker beside the app
            with MongoClient(settings.mongo_uri) as mongo:  # every job of the shop (the store's, callbacks) ended
                jobs = mongo[settings.database].jobs
                wait_for(lambda: jobs.count_documents({"account": account_id}) >= 2 and not jobs.count_documents(
                    {"account": account_id, "state": {"$in": ["queued", "running"]}}), 60, "the shop's jobs ended")

            before = owned(settings, account_id)
            assert all(before[name] > 0 for name in before if name != "reembedding"), before
            assert model_files(settings, account_id) >= 1  # its model's arrays (GridFS)
            shop_files = settings.image_dir / account_id
            assert len([p for p in shop_files.rglob("*") if p.is_file()]) >= 5
            similar = client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", photos[0])})
            assert similar.status_code == 200 and similar.json()["items"]  # the API built the shop's index to answer
            assert (settings.index_dir / account_id).is_dir()

            export = client.get("/api/v1/account/export", headers=shop.session)
            assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
            with zipfile.ZipFile(io.BytesIO(export.content)) as bundle:
                names = set(bundle.namelist())
                assert {"products.json", "annotations.json", "reviews.json", "integrations.json",
                        "former_integrations.json"} <= names
                assert len([n for n in names if n.startswith("images/")]) >= 5
                integrations = json.loads(bundle.read("integrations.json"))
                assert "consumer_secret" not in integrations[0] and store.consumer_secret not in export.text
                assert "embeddings" not in json.loads(bundle.read("products.json"))[0]

            wrong = client.request("DELETE", "/api/v1/account", headers=shop.session, json={"password": "not it"})
            assert wrong.status_code == 403 and owned(settings, account_id) == before  # nothing touched

            gone = client.request("DELETE", "/api/v1/account", headers=shop.session, json={"password": PASSWORD})
            assert gone.status_code == 200, gone.text
            assert gone.json()["deleted"]["products"] == MIN_EXAMPLES + 1 and gone.json()["deleted"]["index"] == 1
            assert owned(settings, account_id) == dict.fromkeys(before, 0) and model_files(settings, account_id) == 0
            assert gone.json()["deleted"]["shop_models"] >= 1
            assert not shop_files.exists() and not (settings.index_dir / account_id).exists()
            assert not [w for w in store.catalogue.webhooks.values() if w.delivery_url == integration["delivery_url"]]
            assert client.get("/api/v1/auth/me", headers=shop.session).status_code == 401
            assert client.get("/api/v1/auth/me", headers=shop.headers).status_code == 401
            # The other shop keeps everything.
            assert client.get("/api/v1/products", headers=other.headers).json()["total"] == 1
            with MongoClient(settings.mongo_uri) as mongo:
                assert mongo[settings.database].accounts.count_documents({}) == 1
    finally:
        store.stop()
        former.stop()


@pytest.mark.parametrize("route", ["/api/v1/annotations/url", "/api/v1/products"])
def test_a_create_still_running_when_its_shop_is_deleted_keeps_nothing(route, model_client, model_settings, photos,
                                                                        image_host):
    """A create that fetches its photo while the shop deletes its account: the deletion swept what was there, and the
    create, finishing after it, takes back what it wrote (410) — no image, document or file of the shop is left."""
    from concurrent.futures import ThreadPoolExecutor

    client = model_client
    shop = create_shop(client, "leaving")
    account_id = client.get("/api/v1/auth/me", headers=shop.headers).json()["id"]
    url = image_host.held(f"leaving-{route.count('/')}.jpg", photos[0])
    body = {"url": url} if "annotations" in route else {"title": "tee", "image_urls": [url]}
    with ThreadPoolExecutor(1) as pool:
        creating = pool.submit(client.post, route, headers=shop.headers, json=body)
        assert image_host.arrived.wait(30)  # the create is fetching its photo
        gone = client.request("DELETE", "/api/v1/account", headers=shop.session, json={"password": PASSWORD})
        assert gone.status_code == 200, gone.text
        image_host.gate.set()
        answer = creating.result(60)
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "account_deleted", answer.text
    left = owned(model_settings, account_id)
    assert left == dict.fromkeys(left, 0), left
    assert not [p for p in (model_settings.image_dir / account_id).rglob("*") if p.is_file()]
