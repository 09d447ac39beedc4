"""A shop's own model through the API: products carry its terms, a training is queued when a term has enough
products, the stored version answers annotations with the shop's terms; a shop without one keeps the generic answer."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from pymongo import MongoClient

from kalas.shop_model import MIN_EXAMPLES
from tests.api.conftest import create_shop, wait_for_jobs

PER_TERM = MIN_EXAMPLES + 2
# The shop's own words for two kinds of product the photos show.
TERMS = {"Shirts": "Herren > Hemden", "Casual Shoes": "Schuhe"}


@pytest.fixture(scope="module")
def catalogue_photos(shared_data: Path) -> dict[str, list[bytes]]:
    """PER_TERM + 1 real men's photos of each kind (the last one is the new product, never in the catalogue)."""
    root = shared_data / "fashion-products"
    found: dict[str, list[bytes]] = {kind: [] for kind in TERMS}
    with (root / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kind = row["articleType"]
            if kind in found and row["gender"] == "Men" and len(found[kind]) <= PER_TERM:
                found[kind].append((root / "images" / f"{row['id']}.jpg").read_bytes())
    return found


def add(client, shop, photo: bytes, title: str, categories: list[str], tags: list[str] = ()) -> dict:
    import json

    answer = client.post("/api/v1/products/upload", headers=shop.headers, files=[("images", ("p.jpg", photo))],
                         data={"title": title, "categories": json.dumps(categories), "tags": json.dumps(list(tags))})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_shop_learns_its_own_terms_and_annotations_answer_them(model_client, model_settings, catalogue_photos):
    client = model_client
    a, b = create_shop(client, "shop-a"), create_shop(client, "shop-b")
    for kind, name in TERMS.items():
        for i, photo in enumerate(catalogue_photos[kind][:PER_TERM]):
            product = add(client, a, photo, f"{kind} {i}", [name], ["neu"] if kind == "Shirts" else [])
            assert product["categories"] == [name]
    trainings = wait_for_jobs(model_settings, "shop_model")
    assert trainings and all(job["state"] == "done" for job in trainings), trainings

    page = client.get("/api/v1/shop-model", headers=a.session).json()
    assert page["state"] == "trained" and page["current"]["version"] >= 1
    # Every product stored its photos' signals: the model reads the joint vector (256-d embedding, 122 signals).
    assert _stored_version(model_settings, page["current"]["version"]) == {"features": "joint", "dim": 378}
    assert {t["name"]: (t["examples"], t["needs"]) for t in page["categories"]} == \
        {name: (PER_TERM, 0) for name in TERMS.values()}
    assert page["tags"] == [{**page["tags"][0], "name": "neu", "examples": PER_TERM, "needs": 0}]
    assert page["current"]["held_out"] is None or page["current"]["held_out"]["products"] >= 1
    assert page["training"]["state"] == "done"
    # The versions list says of each version what the summary says of the current one (a training may have begun
    # before the last products were added: how many it read is its own).
    newest = page["versions"][0]
    assert newest == page["current"] and 1 <= newest["products"] <= 2 * PER_TERM, (newest, page["current"])
    # What the last training did, in the console's words (no field names, figures as percentages).
    assert re.fullmatch(rf"version {newest['version']}: \d+ categories, \d+ tags from {newest['products']} photos in "
                        r"\d+\.\d\d s(; held out: category top-1 \d+\.\d%(, tag micro-F1 \d+\.\d%)?)?",
                        page["training"]["outcome"]), page["training"]["outcome"]

    for kind, name in TERMS.items():
        new_photo = catalogue_photos[kind][PER_TERM]
        answer = client.post("/api/v1/annotations", headers=a.headers, files={"file": ("new.jpg", new_photo)}).json()
        assert answer["shop"]["categories"][0]["name"] == name, answer["shop"]
        assert answer["shop"]["version"] == page["current"]["version"]
        assert "embedding" not in answer and "signals" not in answer
        stored = client.get(f"/api/v1/annotations/{answer['id']}", headers=a.headers).json()
        assert stored["shop"] == answer["shop"]
        # Shop B has no model: its answer for the same photo is the generic one alone.
        other = client.post("/api/v1/annotations", headers=b.headers, files={"file": ("new.jpg", new_photo)}).json()
        assert other["shop"] is None and other["category"] == answer["category"]

    # Shop B sees none of A's terms, versions or trainings, and training it with no terms of its own says why.
    page_b = client.get("/api/v1/shop-model", headers=b.session).json()
    assert page_b == {**page_b, "state": "none", "categories": [], "tags": [], "current": None, "versions": [],
                      "training": None}
    queued = client.post("/api/v1/shop-model/train", headers=b.headers)
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    wait_for_jobs(model_settings, "shop_model")
    dead = client.get("/api/v1/shop-model", headers=b.session).json()["training"]
    assert dead["state"] == "dead" and "no product of this shop carries a category or tag" in dead["last_error"]
    assert client.get("/api/v1/shop-model", headers=a.session).json()["current"] == page["current"]


def test_a_shop_whose_products_have_no_signals_learns_from_their_embeddings(model_client, model_settings,
                                                                           catalogue_photos):
    """Products stored before signals were have none: the shop's model reads their bare embeddings, and answers
    annotations from the embedding alone."""
    client = model_client
    shop = create_shop(client)
    for kind, name in TERMS.items():
        for i, photo in enumerate(catalogue_photos[kind][:PER_TERM]):
            add(client, shop, photo, f"{kind} {i}", [name])
    wait_for_jobs(model_settings, "shop_model")
    with MongoClient(model_settings.mongo_uri) as mongo:
        db = mongo[model_settings.database]
        db.products.update_many({}, {"$unset": {"signals": ""}})
    assert client.post("/api/v1/shop-model/train", headers=shop.headers).status_code == 202
    wait_for_jobs(model_settings, "shop_model")
    version = client.get("/api/v1/shop-model", headers=shop.session).json()["current"]["version"]
    assert _stored_version(model_settings, version) == {"features": "embedding", "dim": 256}
    for kind, name in TERMS.items():
        answer = client.post("/api/v1/annotations", headers=shop.headers,
                             files={"file": ("new.jpg", catalogue_photos[kind][PER_TERM])}).json()
        assert answer["shop"]["version"] == version and answer["shop"]["categories"][0]["name"] == name


def _stored_version(settings, version: int) -> dict:
    """What the stored version says it reads."""
    with MongoClient(settings.mongo_uri) as mongo:
        return mongo[settings.database].shop_models.find_one({"version": version}, {"_id": 0, "features": 1, "dim": 1})


BAD_TERMS = [
    ({"categories": [f"K{i}" for i in range(11)]}, "at most 10"),
    ({"tags": [f"T{i}" for i in range(31)]}, "at most 30"),
    ({"categories": ["x" * 101]}, "at most 100"),
    ({"tags": ["   "]}, "is blank"),
    ({"categories": "Herren"}, "valid list"),
    ({"tags": ["a\u202eb"]}, "bidirectional override U+202E"),
]


def test_bad_shop_terms_are_refused_with_what_is_wrong(model_client):
    shop = create_shop(model_client)
    for fields, says in BAD_TERMS:
        answer = model_client.post("/api/v1/products", headers=shop.headers,
                                   json={"title": "tee", "image_urls": ["https://shop.example/a.jpg"], **fields})
        assert answer.status_code == 422 and says in answer.json()["error"]["message"], (fields, answer.text)
