"""Fixtures of the integration tests: a WooCommerce store emulator per test (it starts in milliseconds)."""
from collections.abc import Iterator

import pytest

from tests.support.woocommerce import WooCommerceStore


@pytest.fixture
def woo_store() -> Iterator[WooCommerceStore]:
    store = WooCommerceStore().start()
    yield store
    store.stop()
