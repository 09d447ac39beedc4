"""The one way the service opens a WooCommerce REST client for a store a shop gave it: every request it sends is
checked against private networks where it leaves (`CheckedTransport`, the photo fetcher's policy), so a store whose
DNS answer changes after it was connected cannot turn the shop's keys against the service's own network."""
from __future__ import annotations

from api.integrations.vault import Vault
from api.integrations.woo_client import WooClient
from api.intake.fetch import SafeHttp


def store_client(http: SafeHttp, store_url: str, consumer_key: str, consumer_secret: str, **options) -> WooClient:
    """A client for the store at `store_url` with these keys (`options`: WooClient's `timeout`, `on_tree`)."""
    return WooClient(store_url, consumer_key, consumer_secret, transport=http.transport(), **options)


def integration_client(http: SafeHttp, vault: Vault, integration: dict, **options) -> WooClient:
    """A client for an integration's store, its keys opened from the vault."""
    return store_client(http, integration["store_url"], vault.open(integration["consumer_key"]),
                        vault.open(integration["consumer_secret"]), **options)
