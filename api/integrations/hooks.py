"""The service's own webhooks in a connected store, kept through the store's REST API (`/wp-json/wc/v3/webhooks`).

Registered when a store is connected (product.created, product.updated, product.deleted (WooCommerce fires it when
a product goes to the trash), product.restored, and where the store has it, product.published, to the
integration's delivery URL with its secret; a topic missing from an older connection is added at the next sync),
re-activated at each sync when the store disabled them after failed deliveries (WooCommerce does that after more
than five in a row), given a new secret when the shop changes it, and deleted when the store is disconnected. A key that may not manage webhooks (WooCommerce answers a
Read-only key's write 401, "does not have write permissions") leaves the merchant the manual way, with a message
that says so.
"""
from __future__ import annotations

import asyncio
import logging

from api.intake.fetch import SafeHttp
from api.integrations.store import integration_client
from api.integrations.store_data import product_id
from api.integrations.vault import Vault
from api.integrations.store_errors import StoreError
from api.integrations.woo_client import WooClient

log = logging.getLogger(__name__)
STORE_TIMEOUT_S = 10.0  # a disconnect waits this long for each connection to and read from the store

TOPICS = ("product.created", "product.updated", "product.deleted", "product.restored")
# WooCommerce 10.8 and later: fired whenever a product goes to "publish" (WC_Post_Data::transition_post_status),
# a scheduled one published by WordPress's cron included, which fires no other topic. An older store refuses it
# ("Webhook topic is required and must be valid."); the sync finds its scheduled products then (api/integrations/sync.py).
NEWER_TOPICS = ("product.published",)
MANUAL = ("create them by hand instead: WooCommerce → Settings → Advanced → Webhooks, one each for Product created, "
          "Product updated, Product deleted, Product restored and (WooCommerce 10.8 and later) Product published, with "
          "the delivery URL and webhook secret shown here")


async def ensure_webhooks(store: WooClient, delivery_url: str, secret: str, new_secret: bool = False,
                          until: float | None = None) -> dict:
    """Our webhooks as the store has them now: `{"state", "ids": {topic: id}, "created", "reactivated", "error",
    "unsupported"}`; `state` is "registered", or "manual" when the store refused (its `error` says why and what to
    do); `unsupported`: the newer topics the store does not have.
    `new_secret`: the webhook secret was changed, and each existing webhook is given it (the store never shows a
    webhook's secret, so it cannot be compared). `until`: the event loop's time by which to stop asking ("manual",
    saying the store was too slow: the next sync finds the webhooks made so far by their delivery URL)."""
    created, reactivated, unsupported = [], [], []
    try:
        async with asyncio.timeout_at(until):
            return await _ensure(store, delivery_url, secret, new_secret, created, reactivated, unsupported)
    except TimeoutError:
        return _manual(created, reactivated, "the store answered too slowly to register every webhook in time; the "
                                             f"next sync finishes it, or {MANUAL}")


async def _ensure(store: WooClient, delivery_url: str, secret: str, new_secret: bool, created: list[str],
                  reactivated: list[str], unsupported: list[str]) -> dict:
    try:
        ours = {w.get("topic"): w for w in await store.webhooks()
                if isinstance(w, dict) and w.get("delivery_url") == delivery_url and product_id(w.get("id"))}
        for topic in TOPICS + NEWER_TOPICS:
            found = ours.get(topic)
            if found is None:
                try:
                    ours[topic] = await store.create_webhook({"name": f"Kalas-Iris {topic}", "topic": topic,
                                                              "delivery_url": delivery_url, "secret": secret,
                                                              "status": "active"})
                except StoreError as error:
                    if topic not in NEWER_TOPICS or error.status != 400:
                        raise
                    unsupported.append(topic)
                    continue
                created.append(topic)
            elif found.get("status") != "active" or new_secret:
                ours[topic] = await store.update_webhook(product_id(found["id"]), {"status": "active"} | (
                    {"secret": secret} if new_secret else {}))
                if found.get("status") != "active":
                    reactivated.append(topic)
    except StoreError as error:
        if error.status in (401, 403):
            return _manual(created, reactivated, f"the store refused the key ({error.message}): webhooks need a "
                                                 f"Read/Write key of this store; {MANUAL}")
        return _manual(created, reactivated, f"the webhooks could not be registered ({error.message}); the next sync "
                                             f"tries again, or {MANUAL}")
    ids = {topic: product_id(ours[topic].get("id")) if isinstance(ours[topic], dict) else None
           for topic in TOPICS + NEWER_TOPICS if topic in ours}
    if None in ids.values():
        return _manual(created, reactivated, f"the store answered a webhook without its id; the next sync tries "
                                             f"again, or {MANUAL}")
    return {"state": "registered", "ids": ids, "created": created, "reactivated": reactivated, "error": None,
            "unsupported": unsupported}


def _manual(created: list[str], reactivated: list[str], error: str) -> dict:
    return {"state": "manual", "ids": {}, "created": created, "reactivated": reactivated, "error": error,
            "unsupported": []}


async def remove_webhooks(store: WooClient, delivery_url: str) -> list[int]:
    """Delete every webhook of the store that delivers to `delivery_url`; the ids deleted."""
    removed = []
    for webhook in await store.webhooks():
        if isinstance(webhook, dict) and webhook.get("delivery_url") == delivery_url and product_id(webhook.get("id")):
            await store.delete_webhook(product_id(webhook["id"]))
            removed.append(product_id(webhook["id"]))
    return removed


async def disconnect(http: SafeHttp, vault: Vault, integration: dict) -> None:
    """Best effort when a store is disconnected (or its shop leaves): the service's webhooks deleted from it. A store
    that cannot be reached keeps them; the API then answers them 404, and WooCommerce disables them."""
    if not integration.get("delivery_url"):
        return
    store = integration_client(http, vault, integration, timeout=STORE_TIMEOUT_S)
    try:
        await remove_webhooks(store, integration["delivery_url"])
    except StoreError as error:
        log.warning("integration %s: its webhooks could not be deleted from the store: %s", integration["_id"], error)
    finally:
        await store.aclose()
