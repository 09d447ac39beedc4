"""Reconciliation: what the webhooks missed, found through the REST API.

WooCommerce does not retry a failed delivery and disables a webhook after 5 failures in a row, so a store can
change products the service never hears of. A sync lists the products modified since the previous sync and
queues those whose current photos are not annotated yet (the marker on the product says which are).
"""
from __future__ import annotations

import datetime as dt
import time

from api.data import integrations, jobs
from api.integrations.merge import is_annotated
from api.integrations.woo_client import WooClient

# Modification times have one-second resolution and clocks differ a little: overlap consecutive windows.
OVERLAP = dt.timedelta(seconds=5)


async def sync_store(db, integration: dict, store: WooClient) -> dict:
    """List, queue, remember where the next sync starts; returns what was done."""
    started = dt.datetime.now(dt.timezone.utc)
    since = (integration.get("last_sync") or {}).get("next_after")
    listed = queued = 0
    async for product in store.products_modified_after(since):
        listed += 1
        if is_annotated(product, integration["_id"]) or not product.get("images"):
            continue
        _, created = await jobs.enqueue(db, integration["account"], integration["_id"], int(product["id"]),
                                        "sync: changed in the store and not annotated")
        queued += created
    summary = {"at": time.time(), "modified_after": since, "listed": listed, "queued": queued,
               "next_after": (started - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S")}
    await integrations.record_sync(db, integration["_id"], summary)
    return summary


def describe(summary: dict, hooks: dict | None = None) -> str:
    said = (f"{summary['listed']} product(s) changed since {summary['modified_after'] or 'the beginning'}; "
            f"{summary['queued']} queued for annotation")
    if hooks and hooks["reactivated"]:
        said += f"; webhooks made active again: {', '.join(hooks['reactivated'])}"
    if hooks and hooks["error"]:
        said += f"; webhooks: {hooks['error']}"
    return said
