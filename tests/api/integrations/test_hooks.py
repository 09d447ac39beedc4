"""The service's own webhooks in a store (api/integrations/hooks.py), against a store whose answers are not what
WooCommerce sends (a listing with items that are no webhooks, a webhook made without its id), and against a store
older than a topic."""
import asyncio
from types import SimpleNamespace

from api.integrations.hooks import NEWER_TOPICS, TOPICS, ensure_webhooks, remove_webhooks
from api.integrations.woo_client import WooClient

DELIVERY_URL = "http://127.0.0.1:9/api/v1/webhooks/woocommerce/abc"  # the creation pings find no one there


def test_a_store_answering_odd_webhooks_leaves_the_manual_way_saying_why(woo_store, monkeypatch):
    woo_store.published_topic = True  # WooCommerce 10.8 and later
    woo_store.catalogue.webhooks[1] = SimpleNamespace(view=lambda: "not a webhook")
    woo_store.catalogue.webhooks[2] = SimpleNamespace(view=lambda: {"topic": "product.created",
                                                                    "delivery_url": DELIVERY_URL})  # no id
    made = woo_store.create_webhook
    monkeypatch.setattr(woo_store, "create_webhook",
                        lambda fields: SimpleNamespace(view=lambda: {k: v for k, v in made(fields).view().items()
                                                                     if k != "id"}))

    async def go():
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=2)
        try:
            return await ensure_webhooks(client, DELIVERY_URL, "a webhook secret"), \
                await remove_webhooks(client, DELIVERY_URL)
        finally:
            await client.aclose()

    hooks, removed = asyncio.run(go())
    assert hooks["state"] == "manual" and hooks["ids"] == {}
    assert hooks["error"].startswith("the store answered a webhook without its id; the next sync tries again")
    # The five made in the store (their ids not answered) are found by the listing and deleted; the odd items are
    # passed over.
    assert len(removed) == 5 and 1 not in removed and 2 not in removed


def test_a_store_older_than_the_published_topic_gets_the_others_and_says_so(woo_store):
    """WooCommerce before 10.8 refuses product.published ("Webhook topic is required and must be valid."): the four
    others are registered all the same, and the topic is named as one the store does not have; the next call (each
    sync's) asks again, so a store updated meanwhile gets it."""
    async def ensure() -> dict:
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=2)
        try:
            return await ensure_webhooks(client, DELIVERY_URL, "a webhook secret")
        finally:
            await client.aclose()

    woo_store.published_topic = False
    hooks = asyncio.run(ensure())
    assert hooks["state"] == "registered" and hooks["error"] is None
    assert sorted(hooks["ids"]) == sorted(TOPICS) and hooks["unsupported"] == list(NEWER_TOPICS)
    refused = [status for method, path, status in woo_store.api_requests if method == "POST" and path.endswith("/webhooks")]
    assert refused == [201, 201, 201, 201, 400]

    woo_store.published_topic = True  # the store updated to 10.8
    hooks = asyncio.run(ensure())
    assert hooks["created"] == ["product.published"] and hooks["unsupported"] == []
    assert sorted(hooks["ids"]) == sorted(TOPICS + NEWER_TOPICS)
    assert sorted(w.topic for w in woo_store.catalogue.webhooks.values()) == sorted(TOPICS + NEWER_TOPICS)
