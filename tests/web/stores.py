"""A shop's store in the console's tests: connected through the API, a product followed to its finished job, and
the session's other shops kept from listening meanwhile."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import httpx

from kalas.emulators.woocommerce import WooCommerceStore
from kalas.stack.live import wait_for
from tests.web.conftest import Service


def connect_store(service: Service, session: dict, store: WooCommerceStore) -> str:
    """Connect the store to the signed-in shop (its catalogue is imported); the integration's id."""
    connected = httpx.post(service.api("/integrations"), headers=session, timeout=30, json={
        "store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
        "webhook_secret": "a webhook secret"})
    assert connected.status_code == 201, connected.text
    return connected.json()["id"]


def wait_for_job(service: Service, session: dict, integration: str, product_id: int) -> dict:
    """The store product's job, once the worker has done it (its annotation is then stored)."""
    jobs = service.api(f"/integrations/{integration}/jobs")
    return wait_for(lambda: next((j for j in httpx.get(jobs, headers=session).json()["items"]
                                  if j["product_id"] == product_id and j["state"] == "done"), None),
                    60, "the product's job")


@contextmanager
def others_paused(store: WooCommerceStore) -> Iterator[None]:
    """The session's store is shared: the shops that other tests connected stop listening meanwhile, as when a
    merchant pauses webhooks (their services would write their own terms to this test's products too, which this
    shop then rightly reads as the merchant's)."""
    others = [webhook for webhook in store.catalogue.webhooks.values() if webhook.status == "active"]
    for webhook in others:
        webhook.status = "paused"
    try:
        yield
    finally:
        for webhook in others:
            webhook.status = "active"
