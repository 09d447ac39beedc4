"""Stored vectors of another embedder are made again from the stored images (api/domain/reembedder.py).

A catalogue embedded by an earlier model is staged the way it would be found after an upgrade: the products'
stored vectors and embedder digests are replaced in the database (random unit vectors under an older digest, and
one product without a digest at all, as stored before digests were kept), and the app is started afresh, so that
its index is built from those stale vectors.
"""
from __future__ import annotations

import numpy as np
import pytest
from pymongo import MongoClient

from api.domain.reembedder import INDEX_EVERY_S
from index import CatalogueIndex, CatalogueStore
from scripts.demo_gallery import embedder_digest
from tests.api.conftest import create_shop, model_app, wait_for_jobs
from tests.api.routes.test_products import _similar, _upload


def _wait_for_passes(settings) -> list[dict]:
    """The re-embedding jobs, every one ended (the worker's job runner beside the app runs them)."""
    return wait_for_jobs(settings, "reembed")


def _products(settings) -> dict[str, dict]:
    with MongoClient(settings.mongo_uri) as mongo:
        return {p["_id"]: p for p in mongo[settings.database].products.find()}


def test_a_product_records_the_embedder_of_its_vectors(model_client, model_settings, photos):
    shop = create_shop(model_client)
    product = _upload(model_client, shop, photos[0], "tee").json()
    stored = _products(model_settings)[product["id"]]
    # The served archives are built from the committed checkpoint: their answers name its digest.
    assert stored["embedder"] == embedder_digest()
    answer = model_client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", photos[0])})
    assert answer.json()["model"] == {"name": "fashion-embedder", "version": "1.0", "digest": embedder_digest()}
    # Both archives are built from that checkpoint, so annotations name the same digest.
    annotated = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
    assert annotated.json()["model"]["digest"] == embedder_digest()
    # Beside each photo's embedding, its signals (what the shop's own model reads): one distribution per head.
    assert len(stored["signals"]) == len(stored["embeddings"]) == 1 and len(stored["signals"][0]) == 122
    assert abs(sum(stored["signals"][0]) - 7.0) < 1e-4  # category, five attribute groups, colour
    # Listing and reading a product never shows the vectors, the signals or their embedder.
    read = model_client.get(f"/api/v1/products/{product['id']}", headers=shop.headers).json()
    listed = model_client.get("/api/v1/products", headers=shop.headers).json()["items"]
    similar = _similar(model_client, shop, photos[0])[0]["product"]
    for shown in (read, *listed, similar):
        assert not {"embeddings", "signals", "embedder"} & shown.keys()


@pytest.mark.parametrize("index_every_s", [0.0, INDEX_EVERY_S], ids=["indexed-every-batch", "indexed-at-the-end"])
def test_vectors_of_another_embedder_are_made_again_from_the_stored_images(model_settings, served_models, photos,
                                                                         index_every_s):
    with model_app(model_settings, served_models) as client:
        shop = create_shop(client)
        ids = [_upload(client, shop, photo, f"product {i}").json()["id"] for i, photo in enumerate(photos[:4])]
    fresh = _products(model_settings)
    account = fresh[ids[0]]["account"]
    rng = np.random.default_rng(0)
    with MongoClient(model_settings.mongo_uri) as mongo:
        products = mongo[model_settings.database].products
        for position, product_id in enumerate(ids):
            stale = rng.standard_normal((1, 256))
            stale /= np.linalg.norm(stale, axis=1, keepdims=True)
            if position == 1:  # stored before digests (and signals) were kept
                products.update_one({"_id": product_id}, {"$set": {"embeddings": stale.tolist()},
                                                          "$unset": {"embedder": "", "signals": ""}})
            else:
                products.update_one({"_id": product_id}, {"$set": {"embeddings": stale.tolist(),
                                                                   "embedder": "an-older-digest"}})
    (model_settings.image_dir / account / fresh[ids[3]]["images"][0]["id"]).unlink()  # cannot be made again
    for index_file in [path for path in model_settings.index_dir.rglob("*") if path.is_file()]:
        index_file.unlink()  # so the next app builds its index from the stale vectors in the database

    with model_app(model_settings, served_models, reembed={"batch": 2, "index_every_s": index_every_s}) as client:
        status = client.get("/api/v1/catalogue/index", headers=shop.headers).json()
        assert status["stale"] is None  # this app has embedded nothing yet: it cannot tell
        assert _similar(client, shop, photos[0])[0]["score"] < 0.5  # answered from the stale vectors; a pass starts
        [job] = _wait_for_passes(model_settings)
        assert job["state"] == "done" and job["account"] == account

        stored = _products(model_settings)
        for product_id in ids[:3]:
            assert stored[product_id]["embedder"] == embedder_digest()
            np.testing.assert_allclose(stored[product_id]["embeddings"], fresh[product_id]["embeddings"], atol=1e-5)
            np.testing.assert_allclose(stored[product_id]["signals"], fresh[product_id]["signals"], atol=1e-5)
            assert stored[product_id]["updated"] == fresh[product_id]["updated"]  # not a change the shop made
        assert stored[ids[3]]["embedder"] == "an-older-digest"  # its image is gone: it keeps its old vectors
        status = client.get("/api/v1/catalogue/index", headers=shop.headers).json()
        assert status["stale"] == 1 and status["indexed"] == 4
        for position, photo in enumerate(photos[:3]):
            best = _similar(client, shop, photo)[0]
            assert best["product"]["id"] == ids[position] and best["score"] > 0.999


def test_a_catalogue_of_the_serving_embedder_is_left_alone(model_client, model_settings, photos):
    shop = create_shop(model_client)
    product = _upload(model_client, shop, photos[0], "tee").json()
    before = _products(model_settings)[product["id"]]
    _similar(model_client, shop, photos[0])
    assert _wait_for_passes(model_settings) == []  # nothing to make again: no job
    assert _products(model_settings)[product["id"]] == before
    status = model_client.get("/api/v1/catalogue/index", headers=shop.headers).json()
    assert status["stale"] == 0 and status["indexed"] == 1


def test_a_pass_cut_off_before_its_rebuild_is_finished_by_the_next(model_settings, served_models, photos):
    """A crash after a pass stored new vectors but before the index took them in: the database holds the current
    embedder's vectors, the index file older ones of the same products, and the pass's mark is still set."""
    with model_app(model_settings, served_models) as client:
        shop = create_shop(client)
        ids = [_upload(client, shop, photo, f"product {i}").json()["id"] for i, photo in enumerate(photos[:3])]
    stored = _products(model_settings)
    account = stored[ids[0]]["account"]
    store = CatalogueStore(model_settings.index_dir)
    keys = [stored[i]["images"][0]["id"] for i in ids]
    old = np.random.default_rng(1).standard_normal((3, 256)).astype(np.float32)
    stale = CatalogueIndex.build(256, ids, old / np.linalg.norm(old, axis=1, keepdims=True), images=keys)
    with MongoClient(model_settings.mongo_uri) as mongo:
        db = mongo[model_settings.database]
        db.reembedding.insert_one({"_id": account, "embedder": embedder_digest()})
        stale.position = db.catalogue_seq.find_one({"_id": account})["seq"]  # a copy that followed every change
    store.replace(account, stale)

    with model_app(model_settings, served_models) as client:
        assert _similar(client, shop, photos[0])[0]["score"] < 0.5  # the index file's old vectors
        [job] = _wait_for_passes(model_settings)
        assert job["state"] == "done" and job["account"] == account
        for position, photo in enumerate(photos[:3]):
            best = _similar(client, shop, photo)[0]
            assert best["product"]["id"] == ids[position] and best["score"] > 0.999
    with MongoClient(model_settings.mongo_uri) as mongo:
        assert mongo[model_settings.database].reembedding.count_documents({}) == 0  # the mark goes with the rebuild
