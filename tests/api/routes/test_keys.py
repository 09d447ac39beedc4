"""API keys: shown once, stored hashed, listed by prefix, revoked at once, at most MAX_KEYS live; one rate limit per shop."""
from __future__ import annotations

from fastapi.testclient import TestClient
from pymongo import MongoClient

from api.main import create_app
from tests.api.conftest import create_shop, make_settings


def test_key_is_shown_once_and_stored_hashed(client, mongo_server, settings):
    shop = create_shop(client)
    created = client.post("/api/v1/keys", json={"name": "sync"}, headers=shop.session).json()
    assert created["secret"].startswith(created["prefix"] + "_")
    listed = client.get("/api/v1/keys", headers=shop.session).json()
    assert listed["total"] == 2 and {k["name"] for k in listed["items"]} == {"script", "sync"}
    assert all("secret" not in k and "hash" not in k for k in listed["items"])
    with MongoClient(mongo_server.uri) as mongo:
        stored = list(mongo[settings.database].api_keys.find())
    assert created["secret"] not in str(stored)
    fetched = client.get(f"/api/v1/keys/{created['id']}", headers=shop.session)
    assert fetched.json().get("prefix") == created["prefix"], fetched.text


def test_key_authenticates_records_last_use_and_revokes(client):
    shop = create_shop(client)
    key_id = client.get("/api/v1/keys", headers=shop.session).json()["items"][0]["id"]
    assert client.get(f"/api/v1/keys/{key_id}", headers=shop.session).json()["last_used"] is None
    assert client.get("/api/v1/auth/me", headers=shop.headers).status_code == 200
    assert client.get(f"/api/v1/keys/{key_id}", headers=shop.session).json()["last_used"] is not None

    revoked = client.delete(f"/api/v1/keys/{key_id}", headers=shop.session)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    refused = client.get("/api/v1/auth/me", headers=shop.headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    # Revoking twice keeps the first date.
    assert client.delete(f"/api/v1/keys/{key_id}", headers=shop.session).json()["revoked"] == revoked.json()["revoked"]


def test_unknown_key_id_is_404(client):
    shop = create_shop(client)
    missing = client.delete(f"/api/v1/keys/{'0' * 24}", headers=shop.session)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"
    malformed = client.delete("/api/v1/keys/does-not-exist", headers=shop.session)  # not an id at all
    assert malformed.status_code == 422 and "24 lowercase hexadecimal" in malformed.json()["error"]["message"]


def test_pagination_of_keys(client):
    shop = create_shop(client)
    for i in range(4):
        client.post("/api/v1/keys", json={"name": f"k{i}"}, headers=shop.session)
    first = client.get("/api/v1/keys?limit=2", headers=shop.session).json()
    second = client.get("/api/v1/keys?limit=2&offset=2", headers=shop.session).json()
    third = client.get("/api/v1/keys?limit=2&offset=4", headers=shop.session).json()
    ids = [k["id"] for page in (first, second, third) for k in page["items"]]
    assert first["total"] == 5 and len(ids) == len(set(ids)) == 5
    assert client.get("/api/v1/keys?limit=0", headers=shop.session).status_code == 422


def test_rate_limit_per_shop_answers_429_with_retry_after(mongo_server, mongo_database, tmp_path):
    """The bucket is the shop's: every key and console session of it draw on one budget, so more keys buy nothing."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path, rate_limit_burst=6, rate_limit_per_minute=6)
    with TestClient(create_app(settings)) as client:
        shop = create_shop(client)  # signup is unauthenticated; creating the key spends one of the shop's 6 tokens
        second = client.post("/api/v1/keys", json={"name": "second"}, headers=shop.session).json()["secret"]  # 2
        answers = [client.get("/api/v1/auth/me", headers={"X-API-Key": key})
                   for key in (shop.key, second, shop.key, second, shop.key)]
        assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
        limited = answers[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        assert limited.json()["error"]["code"] == "rate_limited" and "shop" in limited.json()["error"]["message"]
        # The other key and the console session are out of tokens too; another shop is not.
        assert client.get("/api/v1/auth/me", headers={"X-API-Key": second}).status_code == 429
        assert client.get("/api/v1/auth/me", headers=shop.session).status_code == 429
        other = create_shop(client, "shop-b")
        assert client.get("/api/v1/auth/me", headers=other.headers).status_code == 200


def test_a_shop_holds_at_most_max_keys_live_keys(client):
    from api.documented_errors import TOO_MANY_KEYS
    from api.routes.keys import MAX_KEYS

    shop = create_shop(client)  # its first key
    made = [client.post("/api/v1/keys", json={"name": f"k{i}"}, headers=shop.session) for i in range(MAX_KEYS - 1)]
    assert {answer.status_code for answer in made} == {201}
    refused = client.post("/api/v1/keys", json={"name": "one too many"}, headers=shop.session)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "too_many_keys" and f"{MAX_KEYS} live API keys" in error["message"]
    assert (409, error["code"], error["message"]) == TOO_MANY_KEYS  # the documented example is the real answer
    # A revoked key frees its place; another shop has its own.
    client.delete(f"/api/v1/keys/{made[0].json()['id']}", headers=shop.session)
    assert client.post("/api/v1/keys", json={"name": "rotated"}, headers=shop.session).status_code == 201
    assert client.post("/api/v1/keys", json={"name": "again"}, headers=shop.session).status_code == 409
    other = create_shop(client, "shop-b")
    assert client.post("/api/v1/keys", json={"name": "b2"}, headers=other.session).status_code == 201
