"""Creates sent again with their Idempotency-Key are answered again and done once (api/idempotency.py), through the
real app, the real models in-process and the real nx-27017."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import create_shop, image_files, on_database

REVIEW = {"category": "tshirt", "attributes": {"gender": "men"}, "colours": ["navy"]}


def _keyed(shop, key: str) -> dict[str, str]:
    return shop.headers | {"Idempotency-Key": key}


def _total(client, shop, listing: str) -> int:
    return client.get(f"/api/v1/{listing}", headers=shop.headers).json()["total"]


def test_a_create_sent_again_with_its_key_is_answered_again_and_done_once(model_client, model_settings, photos):
    client, shop = model_client, create_shop(model_client)
    form = {"title": "tee", "categories": json.dumps(["Herren-Oberteile"])}
    # Each send is a new multipart body (httpx picks another boundary): the same request all the same.
    first, again = (client.post("/api/v1/products/upload", headers=_keyed(shop, "product-1"), data=form,
                                files=[("images", ("tee.jpg", photos[0]))]) for _ in range(2))
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _total(client, shop, "products") == 1 and len(image_files(model_settings)) == 1

    assert client.get(again.json()["images"][0]["url"]).content == photos[0]  # the kept answer's image link works

    annotated = [client.post("/api/v1/annotations", headers=_keyed(shop, "annotation-1"),
                             files={"file": ("a.jpg", photos[1])}) for _ in range(2)]
    assert annotated[0].status_code == annotated[1].status_code == 201
    assert annotated[0].json()["id"] == annotated[1].json()["id"] and _total(client, shop, "annotations") == 1
    # A JSON body is the same request whatever its spacing and key order.
    review_path = f"/api/v1/annotations/{annotated[0].json()['id']}/review"
    reviewed = [client.post(review_path, headers=_keyed(shop, "review-1") | {"Content-Type": "application/json"},
                            content=body) for body in (json.dumps(REVIEW), json.dumps(REVIEW, indent=2, sort_keys=True))]
    assert [r.status_code for r in reviewed] == [201, 201] and reviewed[0].json() == reviewed[1].json()
    assert _total(client, shop, "reviews") == 1

    # Without a key each send is its own create, as before.
    for _ in range(2):
        assert client.post("/api/v1/products/upload", headers=shop.headers, data=form,
                           files=[("images", ("tee.jpg", photos[0]))]).status_code == 201
    assert _total(client, shop, "products") == 3


def test_a_batch_sent_again_is_answered_as_a_whole_again(model_client, photos):
    client, shop = model_client, create_shop(model_client)
    files = [("files", ("a.jpg", photos[2])), ("files", ("b.jpg", photos[3]))]
    first, again = (client.post("/api/v1/annotations/batch", headers=_keyed(shop, "batch-1"), files=files)
                    for _ in range(2))
    assert first.status_code == again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and len(first.json()["items"]) == 2
    assert _total(client, shop, "annotations") == 2
    # The same files in another order are another request.
    swapped = client.post("/api/v1/annotations/batch", headers=_keyed(shop, "batch-1"), files=files[::-1])
    assert swapped.status_code == 422 and swapped.json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_used_for_another_request_is_refused_and_does_nothing(model_client, photos, image_host):
    client, shop = model_client, create_shop(model_client)
    url = image_host.add("idem-tee.jpg", photos[0])
    made = client.post("/api/v1/products", headers=_keyed(shop, "k-1"), json={"title": "tee", "image_urls": [url]})
    assert made.status_code == 201, made.text
    for method_path, options in (("/api/v1/products", {"json": {"title": "another tee", "image_urls": [url]}}),
                                 ("/api/v1/products?unused=1", {"json": {"title": "tee", "image_urls": [url]}}),
                                 ("/api/v1/annotations/url", {"json": {"url": url}})):
        refused = client.post(method_path, headers=_keyed(shop, "k-1"), **options)
        assert refused.status_code == 422, (method_path, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "idempotency_key_reused" and "'k-1'" in error["message"] and "new key" in error["message"]
    assert _total(client, shop, "products") == 1 and _total(client, shop, "annotations") == 0


def test_a_request_that_failed_keeps_nothing_and_is_done_when_sent_again(model_client, photos, image_host):
    client, shop = model_client, create_shop(model_client)
    url = image_host.url("files/idem-later.jpg")  # not there yet: the image host answers 404
    body = {"title": "tee", "image_urls": [url]}
    failed = client.post("/api/v1/products", headers=_keyed(shop, "later"), json=body)
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "fetch_failed"
    image_host.add("idem-later.jpg", photos[0])
    done = client.post("/api/v1/products", headers=_keyed(shop, "later"), json=body)
    assert done.status_code == 201 and "idempotent-replayed" not in done.headers
    # A request refused before it was done (an unknown field) keeps nothing either.
    assert client.post("/api/v1/products", headers=_keyed(shop, "fixed"), json=body | {"colour": "red"}).status_code == 422
    assert client.post("/api/v1/products", headers=_keyed(shop, "fixed"), json=body).status_code == 201
    assert _total(client, shop, "products") == 2


def test_the_same_request_sent_while_the_first_is_answered_waits_for_it(model_client, photos, image_host):
    client, shop = model_client, create_shop(model_client)
    body = {"title": "tee", "image_urls": [image_host.held("idem-held.jpg", photos[0])]}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/api/v1/products", headers=_keyed(shop, "held"), json=body)
        assert image_host.arrived.wait(30)  # the first is fetching its photo
        meanwhile = client.post("/api/v1/products", headers=_keyed(shop, "held"), json=body)
        assert meanwhile.status_code == 409 and meanwhile.headers["retry-after"] == "1"
        assert meanwhile.json()["error"]["code"] == "idempotency_key_in_use"
        image_host.gate.set()
        assert first.result(60).status_code == 201
    after = client.post("/api/v1/products", headers=_keyed(shop, "held"), json=body)
    assert after.status_code == 201 and after.json()["id"] == first.result().json()["id"]
    assert _total(client, shop, "products") == 1


def test_a_request_that_runs_longer_than_the_lease_keeps_its_key(model_client, photos, image_host, monkeypatch):
    """An import of slow photos can outlast the lease: the request says it is alive, so the same request sent again
    meanwhile waits for it instead of taking the key over and making everything twice."""
    import api.idempotency

    monkeypatch.setattr(api.idempotency, "LEASE_S", 0.5)
    client, shop = model_client, create_shop(model_client)
    body = {"title": "tee", "image_urls": [image_host.held("idem-long.jpg", photos[0])]}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/api/v1/products", headers=_keyed(shop, "long"), json=body)
        assert image_host.arrived.wait(30)  # the first is fetching its photo
        time.sleep(1.5)  # three leases
        meanwhile = client.post("/api/v1/products", headers=_keyed(shop, "long"), json=body)
        assert meanwhile.status_code == 409 and meanwhile.json()["error"]["code"] == "idempotency_key_in_use"
        image_host.gate.set()
        assert first.result(60).status_code == 201
    assert _total(client, shop, "products") == 1


def test_a_key_left_running_by_a_process_that_died_is_taken_over(model_client, mongo_server, mongo_database, photos,
                                                                  image_host):
    client, shop = model_client, create_shop(model_client)
    account = client.get("/api/v1/auth/me", headers=shop.headers).json()["id"]
    body = {"title": "tee", "image_urls": [image_host.add("idem-orphan.jpg", photos[0])]}
    made = client.post("/api/v1/products", headers=_keyed(shop, "orphan"), json=body)
    assert made.status_code == 201

    async def died_ten_minutes_ago(db):  # as a process that claimed the key and never finished
        await db.idempotency_keys.update_one({"account": account, "key": "orphan"}, {
            "$set": {"state": "running", "started": time.time() - 600, "alive": time.time() - 600},
            "$unset": {"status": "", "body": ""}})

    on_database(mongo_server, mongo_database, died_ten_minutes_ago)
    again = client.post("/api/v1/products", headers=_keyed(shop, "orphan"), json=body)
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    replayed = client.post("/api/v1/products", headers=_keyed(shop, "orphan"), json=body)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json()["id"] == again.json()["id"]


def test_a_bad_key_is_refused_saying_what_was_wrong(model_client):
    client, shop = model_client, create_shop(model_client)
    body = {"title": "tee", "image_urls": ["https://shop.example/tee.jpg"]}
    for key, said in (("x" * 256, "got 256 characters"), ("", "got 0 characters"), ('""', "got 0 characters"),
                      ("caf\u00e9".encode(), "U+00"), ("tab\there", "U+0009")):
        answer = client.post("/api/v1/products", headers=shop.headers | {"Idempotency-Key": key}, json=body)
        assert answer.status_code == 400, (key, answer.text)
        assert answer.json()["error"]["code"] == "invalid_idempotency_key" and said in answer.json()["error"]["message"]
    assert _total(client, shop, "products") == 0


def test_the_keyed_routes_document_the_header_and_its_errors(client):
    operations = client.get("/api/v1/openapi.json").json()["paths"]
    keyed = {path for path, methods in operations.items() for method, operation in methods.items()
             if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))}
    assert keyed == {"/api/v1/products", "/api/v1/products/upload", "/api/v1/products/import", "/api/v1/annotations",
                     "/api/v1/annotations/url", "/api/v1/annotations/batch", "/api/v1/annotations/batch/url",
                     "/api/v1/annotations/{annotation_id}/review"}
    create = operations["/api/v1/products"]["post"]["responses"]
    assert {"idempotency_key_in_use", "sku_taken"} <= set(create["409"]["content"]["application/json"]["examples"])
    assert "idempotency_key_reused" in create["422"]["content"]["application/json"]["examples"]
    assert "invalid_request" in create["422"]["content"]["application/json"]["examples"]
    assert "get" not in operations["/api/v1/products"] or not any(
        p["name"] == "Idempotency-Key" for p in operations["/api/v1/products"]["get"].get("parameters", []))


def test_a_create_without_a_signed_in_shop_cannot_take_a_key():
    from fastapi import APIRouter

    from api.idempotency import Idempotent

    router = APIRouter(route_class=Idempotent)
    with pytest.raises(TypeError, match="no signed-in shop"):
        @router.post("/things")
        async def make_thing() -> dict:  # a key is the shop's own: no shop, no key
            return {}
