"""KALAS_LIMITS_STORE=database: two API apps over one real nx-27017 database count a credential's requests and an
address's failed guesses together, so a client spread over replicas gets one limit, not one per replica."""
from __future__ import annotations

from contextlib import ExitStack

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import create_shop, make_settings


def _replicas(mongo_server, mongo_database, tmp_path, **overrides) -> tuple[ExitStack, TestClient, TestClient]:
    stack = ExitStack()
    clients = [stack.enter_context(TestClient(create_app(make_settings(
        mongo_server.uri, mongo_database, index_dir=tmp_path / f"indexes-{n}", image_dir=tmp_path / f"images-{n}",
        limits_store="database", **overrides)))) for n in (1, 2)]
    return stack, clients[0], clients[1]


def test_a_shop_has_one_rate_limit_across_replicas(mongo_server, mongo_database, tmp_path):
    # 4 requests per window of 4 / (1 per minute) = 240 s: no window edge falls inside the test.
    stack, one, two = _replicas(mongo_server, mongo_database, tmp_path, rate_limit_per_minute=1, rate_limit_burst=4)
    with stack:
        shop = create_shop(one)  # its key's creation is one of the shop's 4
        statuses = [(one if n % 2 else two).get("/api/v1/auth/me", headers=shop.headers).status_code for n in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        refused = one.get("/api/v1/auth/me", headers=shop.headers)
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 240
        assert two.get("/api/v1/auth/me", headers=shop.session).status_code == 429  # its session shares the window


def test_failed_guesses_count_across_replicas(mongo_server, mongo_database, tmp_path):
    stack, one, two = _replicas(mongo_server, mongo_database, tmp_path)
    with stack:
        shop = create_shop(one)
        wrong = {"email": shop.email, "password": "not the password"}
        # 5 free mistakes per account and address, wherever they land: the 6th costs a second, the 7th waits.
        statuses = [(one if n % 2 else two).post("/api/v1/auth/login", json=wrong).status_code for n in range(8)]
        assert statuses[:6] == [401] * 6 and set(statuses[6:]) == {429}
        right = {"email": shop.email, "password": "a long enough password"}
        assert two.post("/api/v1/auth/login", json=right).status_code == 429
        with TestClient(one.app, client=("198.51.100.7", 50000)) as owner:  # the owner elsewhere is not kept out
            assert owner.post("/api/v1/auth/login", json=right).status_code == 200
