"""A review in the queue teaches the shop's own terms: the store product's catalogue entry takes them and the shop's
model is queued to retrain; the correction is written to the store by the terms' existing ids. A term none of the
shop's products carries is a 422 naming it. The real app, handlers in-process, the WooCommerce store emulator."""
from __future__ import annotations

import time

import pytest
from pymongo import MongoClient

from tests.api.conftest import create_shop, make_settings, model_app, wait_for_jobs
from tests.api.routes.test_shop_model import PER_TERM, TERMS, catalogue_photos  # noqa: F401 (a fixture)


@pytest.fixture
def shop_with_store(mongo_server, mongo_database, tmp_path, image_host, served_models, woo_store, catalogue_photos):
    """A shop whose connected store's categorised catalogue was imported and taught its model, and one new
    product of the store annotated (by a sync) and waiting in the review queue."""
    store = woo_store
    for kind, name in TERMS.items():
        for i, photo in enumerate(catalogue_photos[kind][:PER_TERM]):
            store.create_product(f"{kind} {i}", [photo], categories=[name], tags=["neu"] if i % 2 else [])
    time.sleep(1.1)  # connected after its products were made (creation times are to the second)
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({image_host.origin, f"127.0.0.1:{store.port}"}))
    with model_app(settings, served_models) as client:
        shop = create_shop(client)
        connected = client.post("/api/v1/integrations", headers=shop.session, json={
            "store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
            "webhook_secret": "a webhook secret"})
        assert connected.status_code == 201, connected.text
        wait_for_jobs(settings, "import")
        assert [job["state"] for job in wait_for_jobs(settings, "shop_model")] == ["done"]
        new = store.create_product("Neues Hemd", [catalogue_photos["Shirts"][PER_TERM]])
        integration = connected.json()["id"]
        assert client.post(f"/api/v1/integrations/{integration}/sync", headers=shop.headers).status_code == 202
        wait_for_jobs(settings, "sync")
        wait_for_jobs(settings, "product")
        queue = client.get("/api/v1/reviews/queue", headers=shop.headers, params={"limit": 100}).json()["items"]
        [annotation] = [a for a in queue if a["source"].get("product_id") == str(new["id"])]
        assert annotation["shop"]["categories"][0]["name"] == "Herren > Hemden", annotation["shop"]
        yield client, settings, shop, store, new, annotation


def _trainings(settings) -> list[dict]:
    with MongoClient(settings.mongo_uri) as mongo:
        return list(mongo[settings.database].jobs.find({"kind": "shop_model"}).sort("created", 1))


def test_a_review_with_the_shops_terms_teaches_its_catalogue_and_writes_the_existing_term(shop_with_store):
    client, settings, shop, store, new, annotation = shop_with_store
    version = client.get("/api/v1/shop-model", headers=shop.session).json()["current"]["version"]
    reviewed_at = time.time()
    body = {"category": "tshirt", "shop": {"category": "schuhe", "tags": ["NEU"]}}  # any case: the shop's spelling
    review = client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers, json=body)
    assert review.status_code == 201, review.text
    assert review.json()["shop"] == {"category": "Schuhe", "tags": ["neu"]}

    [entry] = [p for p in client.get("/api/v1/products", headers=shop.headers, params={"limit": 100}).json()["items"]
               if p["title"] == "Neues Hemd"]
    assert (entry["categories"], entry["tags"]) == (["Schuhe"], ["neu"])
    # A training queued (or joined, when one was waiting), which learns the review's terms.
    assert any(job["updated"] >= reviewed_at for job in _trainings(settings)), _trainings(settings)
    wait_for_jobs(settings, "shop_model")
    model = client.get("/api/v1/shop-model", headers=shop.session).json()
    assert model["current"]["version"] > version
    assert {t["name"]: t["examples"] for t in model["categories"]}["Schuhe"] == PER_TERM + 1

    # The correction job writes the store's existing terms by id, and makes none.
    wait_for_jobs(settings, "correction")
    terms_before = {kind: set(store.catalogue.terms[kind]) for kind in ("categories", "tags")}
    product = store.catalogue.view(new["id"])
    assert [c["id"] for c in product["categories"]] == [store.catalogue.find_term("categories", "Schuhe")["id"]]
    assert [t["id"] for t in product["tags"]] == [store.catalogue.find_term("tags", "neu")["id"]]
    assert {kind: set(store.catalogue.terms[kind]) for kind in ("categories", "tags")} == terms_before
    assert not store.catalogue.find_term("categories", "T-Shirt")  # not the generic category

    # A later review in the taxonomy's terms alone leaves the shop's own terms in the store: nothing generic over them.
    again = client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers, json={"category": "tshirt"})
    assert again.status_code == 201 and again.json()["shop"] is None, again.text
    wait_for_jobs(settings, "correction")
    with MongoClient(settings.mongo_uri) as mongo:
        last = mongo[settings.database].jobs.find_one({"kind": "correction"}, sort=[("created", -1)])
    assert last["outcome"].startswith("not written: the product carries the shop's own terms"), last
    assert store.catalogue.view(new["id"])["categories"] == product["categories"]


def test_a_review_made_for_photos_since_replaced_teaches_the_new_photos_nothing(shop_with_store):
    """A reviewer works from a page opened before the merchant replaced the product's photo, and the new photo was
    annotated meanwhile: the review is kept, but its shop terms are for the old photo, so the catalogue entry (the
    new photo) keeps its terms, no training is queued for it, and nothing is written to the store."""
    client, settings, shop, store, new, annotation = shop_with_store
    photo = store.upload(_a_photo())
    with store.catalogue.lock:
        store.catalogue.products[new["id"]]["images"] = [photo]
    store.edit_product(new["id"], {"name": "Neues Hemd (neues Foto)"})
    integration = annotation["source"]["integration"]
    assert client.post(f"/api/v1/integrations/{integration}/sync", headers=shop.headers).status_code == 202
    wait_for_jobs(settings, "sync")
    wait_for_jobs(settings, "product")
    queue = client.get("/api/v1/reviews/queue", headers=shop.headers, params={"limit": 100}).json()["items"]
    assert annotation["id"] not in [a["id"] for a in queue]  # the new photo's annotation took its place

    def entry() -> dict:
        [found] = [p for p in client.get("/api/v1/products", headers=shop.headers, params={"limit": 100}).json()["items"]
                   if p["metadata"].get("store_product_id") == str(new["id"])]
        return found

    wait_for_jobs(settings, "shop_model")  # none waiting: a review that taught would queue one of its own
    before, trainings, written = entry(), len(_trainings(settings)), store.catalogue.view(new["id"])
    review = client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers,
                         json={"category": "tshirt", "shop": {"category": "Schuhe", "tags": ["neu"]}})
    assert review.status_code == 201 and review.json()["shop"] == {"category": "Schuhe", "tags": ["neu"]}, review.text
    after = entry()
    assert before["title"] == "Neues Hemd (neues Foto)"
    assert (after["categories"], after["tags"]) == (before["categories"], before["tags"]) != (["Schuhe"], ["neu"])
    assert len(_trainings(settings)) == trainings
    [correction] = wait_for_jobs(settings, "correction")
    assert correction["outcome"].startswith("not written: the product's photos changed"), correction
    assert store.catalogue.view(new["id"])["categories"] == written["categories"]


def test_a_term_the_shop_does_not_have_is_refused_naming_it(shop_with_store):
    client, settings, shop, store, new, annotation = shop_with_store
    for shop_terms, named in (({"category": "Herren-Hemden"}, "category 'Herren-Hemden'"),
                              ({"category": "Schuhe", "tags": ["gestreift"]}, "tag 'gestreift'")):
        answer = client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers,
                             json={"category": "tshirt", "shop": shop_terms})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "unknown_shop_term" and named in error["message"], error
        assert "'Herren > Hemden'" in error["message"] or "'neu'" in error["message"]  # the ones it has
    # A near miss is answered with the shop's term it is near.
    near = client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers,
                       json={"category": "tshirt", "shop": {"category": "schuh"}})
    assert near.status_code == 422 and "did you mean 'Schuhe'?" in near.json()["error"]["message"], near.text
    assert client.get(f"/api/v1/annotations/{annotation['id']}", headers=shop.headers).json()["review"] is None
    # An uploaded photo's annotation has no catalogue product to teach.
    upload = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("p.jpg", _a_photo())}).json()
    refused = client.post(f"/api/v1/annotations/{upload['id']}/review", headers=shop.headers,
                          json={"category": "tshirt", "shop": {"category": "Schuhe"}})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_a_store_product", refused.text


def _a_photo() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (96, 96), (40, 60, 200)).save(buffer, "JPEG")
    return buffer.getvalue()
