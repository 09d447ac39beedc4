"""Sign-up, login, logout and the credentials every other route depends on."""
from __future__ import annotations

from tests.api.conftest import PASSWORD, create_shop


def test_signup_login_me_logout(client):
    shop = create_shop(client)
    me = client.get("/api/v1/auth/me", headers=shop.session)
    assert me.status_code == 200 and me.json()["email"] == shop.email and me.json()["shop_name"] == "shop-a"

    login = client.post("/api/v1/auth/login", json={"email": shop.email.upper(), "password": "a long enough password"})
    assert login.status_code == 200
    second = {"Authorization": f"Bearer {login.json()['token']}"}
    assert client.post("/api/v1/auth/logout", headers=second).status_code == 204
    after = client.get("/api/v1/auth/me", headers=second)
    assert after.status_code == 401 and "log in again" in after.json()["error"]["message"]
    # Logging one session out leaves the others working.
    assert client.get("/api/v1/auth/me", headers=shop.session).status_code == 200


def test_duplicate_signup_is_a_conflict(client):
    create_shop(client)
    again = client.post("/api/v1/auth/signup",
                        json={"email": "SHOP-A@shops.example", "password": "another long password", "shop_name": "x"})
    assert again.status_code == 409
    assert again.json()["error"] == {"code": "email_taken", "message": again.json()["error"]["message"]}
    assert "log in" in again.json()["error"]["message"]


def test_wrong_password_and_unknown_email_get_the_same_answer(client):
    shop = create_shop(client)
    wrong = client.post("/api/v1/auth/login", json={"email": shop.email, "password": "not the password"})
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@shops.example", "password": "whatever it is"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_password_is_stored_hashed_with_argon2(client, mongo_server, settings):
    from pymongo import MongoClient

    shop = create_shop(client)
    with MongoClient(mongo_server.uri) as mongo:
        stored = mongo[settings.database].accounts.find_one({"email": shop.email})
    assert stored["password_hash"].startswith("$argon2id$")
    assert "a long enough password" not in str(stored)


def test_missing_or_malformed_credentials(client):
    missing = client.get("/api/v1/auth/me")
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["error"]["message"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": "ki_0000_nope"}).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": "not-a-key"}).status_code == 401


def test_logout_with_an_api_key_is_refused(client):
    shop = create_shop(client)
    response = client.post("/api/v1/auth/logout", headers=shop.headers)
    assert response.status_code == 400 and "revoke" in response.json()["error"]["message"]


def test_signup_validation_names_the_field(client):
    short = client.post("/api/v1/auth/signup", json={"email": "a@b.example", "password": "short", "shop_name": "x"})
    assert short.status_code == 422 and "password" in short.json()["error"]["message"]
    extra = client.post("/api/v1/auth/signup",
                        json={"email": "a@b.example", "password": "long enough password", "shop_name": "x", "admin": True})
    assert extra.status_code == 422 and "unknown field 'admin'" in extra.json()["error"]["message"]


def test_guessing_is_slowed_with_retry_after_and_the_owner_elsewhere_still_logs_in(client):
    from fastapi.testclient import TestClient

    shop = create_shop(client)
    wrong = {"email": shop.email, "password": "not the password"}
    answers = [client.post("/api/v1/auth/login", json=wrong) for _ in range(8)]
    assert [a.status_code for a in answers[:6]] == [401] * 6  # the first few mistakes cost nothing
    assert {a.status_code for a in answers[6:]} == {429}
    limited = answers[-1]
    assert limited.json()["error"]["code"] == "too_many_guesses" and int(limited.headers["Retry-After"]) >= 1
    # Even the right password waits from the guessing address: the attacker learns nothing by trying it.
    right = {"email": shop.email, "password": "a long enough password"}
    assert client.post("/api/v1/auth/login", json=right).status_code == 429
    # The owner, from their own address, is not kept out.
    with TestClient(client.app, client=("198.51.100.7", 50000)) as owner:
        assert owner.post("/api/v1/auth/login", json=right).status_code == 200
        assert owner.get("/api/v1/auth/me", headers=shop.headers).status_code == 200


def test_unknown_api_keys_from_one_address_are_slowed(client):
    from fastapi.testclient import TestClient

    shop = create_shop(client)
    statuses = [client.get("/api/v1/auth/me", headers={"X-API-Key": f"ki_unknown{i:030d}"}).status_code
                for i in range(26)]
    assert statuses[:21] == [401] * 21 and set(statuses[21:]) == {429}  # an address gets 20 free mistakes
    limited = client.get("/api/v1/auth/me", headers={"X-API-Key": "ki_" + "0" * 40})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # The shop's real key is never slowed, from this address or another.
    assert client.get("/api/v1/auth/me", headers=shop.headers).status_code == 200
    with TestClient(client.app, client=("198.51.100.8", 50000)) as elsewhere:
        assert elsewhere.get("/api/v1/auth/me", headers=shop.headers).status_code == 200


def test_a_signup_with_what_is_no_email_address_says_so_in_words(client):
    answer = client.post("/api/v1/auth/signup", json={"email": "owner at shop", "password": PASSWORD,
                                                      "shop_name": "Shop"})
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "'owner at shop' is not an e-mail address" in message and "^[" not in message  # no regular expression
