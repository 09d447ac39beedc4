"""The catalogue: products with images, their embeddings and the shop's FAISS index kept in step."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.clients.in_process import InProcessClient
from api.main import create_app
from index.store import INDEX_FILE
from tests.api.conftest import create_shop, image_files


def _upload(client, shop, photo: bytes, title: str, sku: str | None = None):
    data = {"title": title, "metadata": json.dumps({"brand": "Acme"})} | ({"sku": sku} if sku else {})
    return client.post("/api/v1/products/upload", headers=shop.headers, data=data, files=[("images", ("p.jpg", photo))])


def _similar(client, shop, photo: bytes, k: int = 3) -> list[dict]:
    answer = client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", photo)}, data={"k": str(k)})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_added_products_are_found_by_their_own_photo(model_client, photos):
    shop = create_shop(model_client)
    ids = []
    for position, photo in enumerate(photos[:4]):
        answer = _upload(model_client, shop, photo, f"product {position}", sku=f"SKU-{position}")
        assert answer.status_code == 201, answer.text
        assert answer.json()["metadata"] == {"brand": "Acme"} and len(answer.json()["images"]) == 1
        ids.append(answer.json()["id"])
    for position, photo in enumerate(photos[:4]):
        best = _similar(model_client, shop, photo)[0]
        assert best["product"]["id"] == ids[position] and best["score"] > 0.999
        assert model_client.get(best["product"]["images"][0]["url"]).content == photo

    listed = model_client.get("/api/v1/products?limit=3", headers=shop.headers).json()
    assert listed["total"] == 4 and len(listed["items"]) == 3


def test_update_delete_and_images_stay_in_step_with_the_index(model_client, model_settings, photos, image_host):
    shop = create_shop(model_client)
    product = _upload(model_client, shop, photos[0], "tee").json()
    other = _upload(model_client, shop, photos[1], "shirt").json()

    patched = model_client.patch(f"/api/v1/products/{product['id']}", headers=shop.headers,
                                 json={"title": "navy tee", "image_urls": [image_host.add("new.jpg", photos[2])]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "navy tee" and patched.json()["images"][0]["id"] != product["images"][0]["id"]
    # The old image is gone; the index now finds the product by its new photo.
    assert model_client.get(product["images"][0]["url"]).status_code == 404
    assert _similar(model_client, shop, photos[2])[0]["product"]["id"] == product["id"]

    replaced = model_client.put(f"/api/v1/products/{product['id']}/images", headers=shop.headers,
                                files=[("images", ("a.jpg", photos[3])), ("images", ("b.jpg", photos[4]))])
    assert replaced.status_code == 200 and len(replaced.json()["images"]) == 2
    assert _similar(model_client, shop, photos[4])[0]["product"]["id"] == product["id"]

    assert model_client.delete(f"/api/v1/products/{product['id']}", headers=shop.headers).status_code == 204
    assert [i["product"]["id"] for i in _similar(model_client, shop, photos[4], k=5)] == [other["id"]]
    assert model_client.get(f"/api/v1/products/{product['id']}", headers=shop.headers).status_code == 404
    # Replaced and deleted images took their files with them: only the other product's one is left.
    assert [p.name for p in image_files(model_settings)] == [other["images"][0]["id"]]


def test_a_renamed_product_is_shown_renamed_by_similar_items_at_once(model_client, photos):
    # Similar items remember the products they show a few seconds; a change made through the API is seen at once.
    shop = create_shop(model_client)
    product = _upload(model_client, shop, photos[0], "tee", sku="TEE-1").json()
    assert _similar(model_client, shop, photos[0])[0]["product"]["title"] == "tee"
    renamed = model_client.patch(f"/api/v1/products/{product['id']}", headers=shop.headers,
                                 json={"title": "navy tee", "metadata": {"fit": "slim"}})
    assert renamed.status_code == 200, renamed.text
    shown = _similar(model_client, shop, photos[0])[0]["product"]
    assert (shown["id"], shown["title"], shown["metadata"], shown["sku"]) == (product["id"], "navy tee", {"fit": "slim"}, "TEE-1")


def test_sku_is_unique_per_shop_and_nothing_is_left_behind(model_client, photos, mongo_server, model_settings):
    from pymongo import MongoClient

    shop = create_shop(model_client)
    assert _upload(model_client, shop, photos[0], "a", sku="S-1").status_code == 201
    clash = _upload(model_client, shop, photos[1], "b", sku="S-1")
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "sku_taken"
    with MongoClient(mongo_server.uri) as mongo:
        assert mongo[model_settings.database].images.count_documents({}) == 1
    assert len(image_files(model_settings)) == 1
    # Another shop may use the same SKU.
    other = create_shop(model_client, "shop-b")
    assert _upload(model_client, other, photos[1], "b", sku="S-1").status_code == 201


def test_bulk_import_reports_each_item(model_client, photos, image_host):
    shop = create_shop(model_client)
    products = [{"title": "one", "sku": "I-1", "image_urls": [image_host.add("i1.jpg", photos[0])]},
                {"title": "two", "image_urls": [image_host.add("i2.jpg", photos[1]), image_host.add("i3.jpg", photos[2])]},
                {"title": "bad", "image_urls": [image_host.add("bad.jpg", b"not an image at all")]},
                {"title": "private", "image_urls": ["http://192.168.0.10/x.jpg"]}]
    answer = model_client.post("/api/v1/products/import", headers=shop.headers, json={"products": products})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["created"] == 2 and body["failed"] == 2
    assert body["items"][2]["error"]["code"] == "not_an_image"
    assert body["items"][3]["error"]["code"] == "url_not_allowed"
    assert len(body["items"][1]["product"]["images"]) == 2
    assert model_client.get("/api/v1/products", headers=shop.headers).json()["total"] == 2


def _lose_the_files(index_dir: Path) -> None:
    shutil.rmtree(index_dir)  # the index files are gone; the database still has the embeddings


def _tear_the_file(index_dir: Path) -> None:
    # What a replica finds after a torn disk, or a compressed index whose exact vectors' file is gone: a file that
    # load refuses (ValueError). The files are a cache: the database rebuilds them, no 500.
    (cached,) = index_dir.glob(f"*/{INDEX_FILE}")
    cached.write_bytes(cached.read_bytes()[:100])


@pytest.mark.parametrize("damage", [_lose_the_files, _tear_the_file], ids=["lost", "unreadable"])
def test_index_is_rebuilt_from_the_database_when_its_file_is_lost_or_unreadable(model_settings, served_models, photos,
                                                                                  damage):
    inference = InProcessClient(dict(served_models))
    try:
        with TestClient(create_app(model_settings, inference=inference)) as client:
            shop = create_shop(client)
            product = _upload(client, shop, photos[0], "kept").json()
            _similar(client, shop, photos[0])  # this replica searches the shop: it builds and saves its index
        damage(Path(model_settings.index_dir))
        with TestClient(create_app(model_settings, inference=inference)) as client:
            assert _similar(client, shop, photos[0])[0]["product"]["id"] == product["id"]
    finally:
        asyncio.run(inference.aclose())


def test_the_demo_catalogue_of_a_server_without_a_gallery_says_so(model_client, photos, image_host):
    shop = create_shop(model_client)
    _upload(model_client, shop, photos[0], "mine")
    # No demo gallery was built for this app (make run builds it in the background on its first start): a 503
    # that says so, not an empty list that reads as "nothing similar", and not the shop's own products.
    answers = [model_client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", photos[0])},
                                 data={"catalogue": "demo"}),
               model_client.post("/api/v1/similar/url", headers=shop.headers,
                                 json={"url": image_host.add("q.jpg", photos[0]), "catalogue": "demo"})]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "demo_not_built" and "scripts.demo_gallery" in error["message"]
    documented = model_client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/similar"]["post"]["responses"]["503"]
    assert "demo_not_built" in documented["content"]["application/json"]["examples"]
    own = model_client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", photos[0])})
    assert own.status_code == 200 and own.json()["items"][0]["product"]["title"] == "mine"
