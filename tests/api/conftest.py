"""Building the real app against the real nx-27017 server, and factories for shops and their credentials."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

from api.core.settings import Settings
from api.main import create_app

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def make_settings(mongo_uri: str, database: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", "secret_key": SECRET, "mongo_uri": mongo_uri, "database": database}
    return Settings(**(values | overrides))


@dataclass
class Shop:
    """A signed-up shop with a console session and an API key."""

    email: str
    token: str
    key: str

    @property
    def session(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


def create_shop(client: TestClient, name: str = "shop-a") -> Shop:
    email = f"{name}@shops.example"
    signup = client.post("/api/v1/auth/signup", json={"email": email, "password": "a long enough password", "shop_name": name})
    assert signup.status_code == 201, signup.text
    token = signup.json()["token"]
    key = client.post("/api/v1/keys", json={"name": "script"}, headers={"Authorization": f"Bearer {token}"})
    assert key.status_code == 201, key.text
    return Shop(email=email, token=token, key=key.json()["secret"])


@pytest.fixture
def settings(mongo_server, mongo_database, tmp_path) -> Settings:
    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app, its lifespan run, against this test's own database (no models configured)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client
