"""Fixtures of the integration tests: a WooCommerce store emulator per test (it starts in milliseconds)."""
from collections.abc import Iterator

import pytest

from tests.support.woocommerce import WooCommerceStore


@pytest.fixture
def woo_store() -> Iterator[WooCommerceStore]:
    store = WooCommerceStore().start()
    yield store
    store.stop()


@pytest.fixture
def api_settings(mongo_server, mongo_database, tmp_path):
    from tests.api.conftest import make_settings

    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")


@pytest.fixture
def api(api_settings):
    """The real app, lifespan run, on this test's own database (no models: the webhook path needs none)."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(api_settings)) as client:
        yield client
