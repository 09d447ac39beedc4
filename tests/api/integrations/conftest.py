"""Fixtures of the integration tests (the store emulator, `woo_store`, is tests/api/conftest.py's)."""
import pytest


@pytest.fixture
def api_settings(mongo_server, mongo_database, tmp_path, woo_store):
    """Test settings; the emulated store's loopback origin is let through the SSRF check, as an operator would."""
    from tests.api.conftest import make_settings

    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                         fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))


@pytest.fixture
def api(api_settings, woo_store):
    """The real app, lifespan run, on this test's own database (no models: the webhook path needs none)."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(api_settings)) as client:
        client.store = woo_store
        yield client
