"""Stored images' bytes live in files beside the database (api/data/images.py): written before their document,
removed with it, never left without one after a failed request, and a missing one is reported, not hidden."""
from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from pymongo import MongoClient

from api.data.images import ImageFiles, new_image
from api.clients.in_process import InProcessClient
from api.main import create_app
from tests.api.conftest import create_shop, image_files, make_settings
from tests.support.data_dirs import files_under
from tests.support.mongo import start_mongo, stop_mongo


def _account_id(mongo_uri: str, database: str, email: str) -> str:
    with MongoClient(mongo_uri) as mongo:
        return mongo[database].accounts.find_one({"email": email})["_id"]


def test_a_missing_file_is_reported_and_an_image_stored_before_files_is_still_served(model_client, model_settings,
                                                                                   mongo_server, photos):
    shop = create_shop(model_client)
    body = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])}).json()
    [stored] = image_files(model_settings)
    stored.unlink()  # lost from the image directory, say by a restore that missed it
    missing = model_client.get(body["image"]["url"])
    assert missing.status_code == 500 and missing.json()["error"]["code"] == "image_file_missing"
    assert body["image"]["id"] in missing.json()["error"]["message"]

    # A document written before images had files carries its bytes itself.
    account = _account_id(mongo_server.uri, model_settings.database, shop.email)
    legacy = new_image(account, photos[1], "image/jpeg", 60, 80).document | {"data": photos[1]}
    with MongoClient(mongo_server.uri) as mongo:
        mongo[model_settings.database].images.insert_one(legacy)
    served = model_client.get(f"/api/v1/images/{legacy['_id']}", headers=shop.headers)
    assert served.status_code == 200 and served.content == photos[1]


@pytest.mark.slow
def test_when_the_database_goes_down_mid_request_no_file_is_left(tmp_path, mongo_database, served_models, photos):
    # The key and account are remembered from the first request, so the second gets as far as the write after the
    # model, which fails: the file written while the model worked must go again.
    process, server = start_mongo(tmp_path / "own-mongo")
    settings = make_settings(server.uri, mongo_database, index_dir=tmp_path / "indexes")
    inference = InProcessClient(dict(served_models))
    try:
        with TestClient(create_app(settings, inference=inference), raise_server_exceptions=False) as client:
            shop = create_shop(client)
            first = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
            assert first.status_code == 201 and len(image_files(settings)) == 1
            stop_mongo(process)
            failed = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("b.jpg", photos[1])})
            assert failed.status_code >= 500
            assert [p.name for p in image_files(settings)] == [first.json()["image"]["id"]]
    finally:
        if process.poll() is None:
            stop_mongo(process)
        asyncio.run(inference.aclose())


def test_files_are_written_whole_or_not_at_all(tmp_path):
    files = ImageFiles(tmp_path / "images")
    good = new_image("a1", b"first", "image/jpeg", 1, 1)
    bad = new_image("a1", b"second", "image/jpeg", 1, 1)
    bad.document["_id"] = "../escape"  # not one of our ids: refused before it makes a path
    with pytest.raises(ValueError, match="not an image id"):
        files.write_all([good, bad])
    assert not (tmp_path / "images" / "a1" / good.document["_id"]).exists()
    files.write_all([good])
    assert files.read(good.document) == b"first"
    files.remove_all([good.document, good.document])  # removing twice is harmless
    assert files_under(tmp_path / "images") == []


def test_an_unwritable_image_directory_is_a_clear_503_and_stores_nothing(model_client, model_settings, mongo_server,
                                                                          photos):
    shop = create_shop(model_client)
    account_id = model_client.get("/api/v1/auth/me", headers=shop.headers).json()["id"]
    # A file where the shop's directory should be (the image directory itself is checked at the start): nothing
    # can be made under it.
    (model_settings.image_dir / account_id).write_bytes(b"")
    answer = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "storage_failed"
    assert "could not be stored" in answer.json()["error"]["message"]
    with MongoClient(mongo_server.uri) as mongo:
        db = mongo[model_settings.database]
        assert db.images.count_documents({}) == db.annotations.count_documents({}) == 0
