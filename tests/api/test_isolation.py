"""Tenant isolation: shop B tries every read and write of shop A's objects, by id and by listing.

Every attempt gets 404 (the same answer as for an id that never existed) or an empty list, and afterwards
shop A's objects are exactly as they were.
"""
from __future__ import annotations

import pytest

from tests.api.conftest import create_shop, make_settings, wait_for_jobs

REVIEW = {"category": "tees", "attributes": {"gender": "men"}, "colours": ["navy"]}
SHARED_KEY = "the same Idempotency-Key"


@pytest.fixture
def model_settings(mongo_server, mongo_database, tmp_path, image_host, woo_store):
    """The API's settings with the emulated store's loopback origin let through too: shop A connects a real store.
    Shop B's every attempt, by key and by session, draws on its one rate-limit budget: a burst that holds them all."""
    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                         fetch_allow_origins=frozenset({image_host.origin, f"127.0.0.1:{woo_store.port}"}),
                         rate_limit_burst=1000)


@pytest.fixture
def two_shops(model_client, photos, image_host, woo_store):
    client = model_client
    a, b = create_shop(client, "shop-a"), create_shop(client, "shop-b")
    annotation = client.post("/api/v1/annotations", headers=a.headers | {"Idempotency-Key": SHARED_KEY},
                             files={"file": ("a.jpg", photos[0])}).json()
    review = client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=a.headers, json=REVIEW).json()
    product = client.post("/api/v1/products/upload", headers=a.headers,
                          data={"title": "A's tee", "sku": "A-1", "categories": '["A-Kategorie"]', "tags": '["A-Tag"]'},
                          files=[("images", ("p.jpg", photos[1]))]).json()
    key = client.get("/api/v1/keys", headers=a.session).json()["items"][0]
    callback = client.post("/api/v1/callbacks", headers=a.headers, json={"url": image_host.url("/echo/a")}).json()
    integration = client.post("/api/v1/integrations", headers=a.session, json={
        "store_url": woo_store.url, "consumer_key": woo_store.consumer_key, "consumer_secret": woo_store.consumer_secret,
        "webhook_secret": "a webhook secret"})
    assert integration.status_code == 201, integration.text
    wait_for_jobs(client.app.state.services.settings, "import")  # the connect's catalogue import, ended
    ids = {"annotation": annotation["id"], "image": annotation["image"]["id"], "review": review["id"],
           "product": product["id"], "product_image": product["images"][0]["id"], "key": key["id"],
           "callback": callback["id"], "integration": integration.json()["id"]}
    return client, a, b, ids


ATTEMPTS = [
    ("GET", "/annotations/{annotation}", None),
    ("DELETE", "/annotations/{annotation}", None),
    ("POST", "/annotations/{annotation}/review", {"json": REVIEW}),
    ("POST", "/annotations/{annotation}/review", {"json": REVIEW | {"shop": {"category": "A-Kategorie"}}}),
    ("DELETE", "/reviews/queue/{annotation}", None),
    ("GET", "/images/{image}", None),
    ("GET", "/images/{product_image}", None),
    ("GET", "/reviews/{review}", None),
    ("GET", "/products/{product}", None),
    ("PATCH", "/products/{product}", {"json": {"title": "stolen"}}),
    ("PUT", "/products/{product}/images", {"files": [("images", ("x.jpg", b"irrelevant"))]}),
    ("DELETE", "/products/{product}", None),
    ("GET", "/keys/{key}", None),
    ("DELETE", "/keys/{key}", None),
    ("GET", "/callbacks/{callback}", None),
    ("GET", "/callbacks/{callback}/deliveries", None),
    ("DELETE", "/callbacks/{callback}", None),
    ("GET", "/integrations/{integration}", None),
    ("GET", "/integrations/{integration}/deliveries", None),
    ("GET", "/integrations/{integration}/jobs", None),
    ("POST", "/integrations/{integration}/sync", None),
    ("DELETE", "/integrations/{integration}", None),
]
LISTINGS = ["/annotations", "/annotations?reviewed=true", "/reviews", "/reviews?annotation_id={annotation}",
            "/products", "/callbacks", "/integrations"]


def test_shop_b_cannot_reach_shop_a_objects(two_shops):
    client, a, b, ids = two_shops
    before = {path: client.get("/api/v1" + path.format(**ids), headers=a.session).json()
              for path in ("/annotations/{annotation}", "/products/{product}", "/keys/{key}", "/callbacks/{callback}",
                           "/integrations/{integration}", "/reviews/{review}")}
    for credentials in (b.headers, b.session):
        for method, path, options in ATTEMPTS:
            answer = client.request(method, "/api/v1" + path.format(**ids), headers=credentials, **(options or {}))
            assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
            assert answer.json()["error"]["code"].endswith("not_found")
        for path in LISTINGS:
            listed = client.get("/api/v1" + path.format(**ids), headers=credentials).json()
            assert listed["items"] == [] and listed["total"] == 0, path
        keys = client.get("/api/v1/keys", headers=credentials).json()["items"]
        assert ids["key"] not in {k["id"] for k in keys}

    # Shop B's similar-item search never returns shop A's products.
    found = client.post("/api/v1/similar", headers=b.headers, files={"file": ("q.jpg", client.get(
        f"/api/v1/images/{ids['product_image']}", headers=a.headers).content)}).json()
    assert found["items"] == []
    # B's shop model knows none of A's terms, and training it learns nothing of A's products.
    model_b = client.get("/api/v1/shop-model", headers=b.headers).json()
    assert model_b["state"] == "none" and model_b["categories"] == model_b["tags"] == [] and model_b["current"] is None
    # B's own review cannot name A's terms, and its refusal lists none of them.
    own = client.post("/api/v1/annotations", headers=b.headers, files={"file": ("b.jpg", client.get(
        f"/api/v1/images/{ids['product_image']}", headers=a.headers).content)}).json()
    refused = client.post(f"/api/v1/annotations/{own['id']}/review", headers=b.headers,
                          json=REVIEW | {"shop": {"category": "a-kategorie", "tags": ["A-Tag"]}})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_shop_term"
    assert "'A-Kategorie'" not in refused.json()["error"]["message"] and "none yet" in refused.json()["error"]["message"]
    # B's export holds none of A's reviewed annotations.
    assert client.get("/api/v1/reviews/export", headers=b.headers).headers["x-rows"] == "0"

    after = {path: client.get("/api/v1" + path.format(**ids), headers=a.session).json() for path in before}
    for path in before:
        assert after[path] == before[path], path
    assert client.get("/api/v1/auth/me", headers=a.headers).status_code == 200  # A's key still works

    # An Idempotency-Key is the shop's own: B's same request with A's key is B's own create, not A's answer.
    image_url = client.get(f"/api/v1/annotations/{ids['annotation']}", headers=a.headers).json()["image"]["url"]
    b_own = client.post("/api/v1/annotations", headers=b.headers | {"Idempotency-Key": SHARED_KEY},
                        files={"file": ("a.jpg", client.get(image_url).content)})
    assert b_own.status_code == 201 and "idempotent-replayed" not in b_own.headers
    assert b_own.json()["id"] != ids["annotation"]


def test_unknown_ids_get_the_same_answer_as_foreign_ones(two_shops):
    client, a, b, ids = two_shops
    foreign = client.get(f"/api/v1/products/{ids['product']}", headers=b.headers)
    missing = client.get("/api/v1/products/000000000000000000000000", headers=b.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]
