"""Reconciliation: what the webhooks missed, found through the REST API.

WooCommerce does not retry a failed delivery and disables a webhook after 5 failures in a row, so a store can
change products the service never hears of. A sync lists the products modified since the previous sync and
queues those the service is not in step with (`in_step`: the same test a webhook delivery passes). The worker syncs
every store every `store_sync_minutes` (api/jobs/store_syncs.py); a shop can ask for one from the console.

A scheduled product ("future": a fashion drop made ahead) is published by WordPress's cron (`wp_publish_post`),
which changes its status alone: not its modification time, so the listing never shows it, and no webhook fires but
WooCommerce 10.8's product.published. So each sync also lists the store's scheduled products and remembers them;
one no longer scheduled at the next sync is read again, and queued if it is not in step (published, it enters the
shop's similar items).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import time

from api.data import integrations, jobs
from api.integrations.catalogue_import import created_since_connect, terms_moved
from api.integrations.languages import in_another_language
from api.integrations.merge import is_annotated
from api.integrations.store_data import not_on_show, product_id
from api.integrations.woo_client import PAGE_SIZE, WooClient

# Modification times have one-second resolution and clocks differ a little: overlap consecutive windows.
OVERLAP = dt.timedelta(seconds=5)
MAX_SCHEDULED = 1000  # scheduled products remembered from one sync to the next (a store with more: its oldest)


async def sync_store(db, integration: dict, store: WooClient) -> dict:
    """List, queue, remember where the next sync starts and which products are scheduled; returns what was done."""
    started = dt.datetime.now(dt.timezone.utc)
    last = integration.get("last_sync") or {}
    since = last.get("next_after")
    seen: set[int] = set()
    listed = queued = published = 0
    async for product in store.products_modified_after(since):
        listed += 1
        seen.add(int(product["id"]))
        queued += await _queue_if_behind(db, integration, product, "sync: changed in the store and not annotated")
    scheduled: list[int] = []
    async with contextlib.aclosing(store.products({"status": "future"})) as listing:
        async for product in listing:
            if len(scheduled) == MAX_SCHEDULED:
                break
            scheduled.append(int(product["id"]))
    seen |= set(scheduled)
    came_out = [found for found in last.get("scheduled_ids", []) if found not in seen]
    # Published by the cron (or made a draft, or trashed: a listing without `status` skips the trash); read a page's
    # worth at a time, so that no request line nears the 8 KB a web server takes (Apache's LimitRequestLine).
    for start in range(0, len(came_out), PAGE_SIZE):
        async for product in store.products({"include": ",".join(map(str, came_out[start:start + PAGE_SIZE]))}):
            published += product.get("status") == "publish"
            queued += await _queue_if_behind(db, integration, product, "sync: a scheduled product was published")
    summary = {"at": time.time(), "modified_after": since, "listed": listed, "queued": queued,
               "scheduled": len(scheduled), "published": published, "scheduled_ids": scheduled,
               "next_after": (started - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S")}
    await integrations.record_sync(db, integration["_id"], summary)
    return summary


async def _queue_if_behind(db, integration: dict, product: dict, reason: str) -> bool:
    """Queue the store product's job unless the service is in step with it or leaves it to another (a variation, a
    translation: Polylang lists every language; or the catalogue import, which has yet to reach a product that was
    in the store at the connect); True when a job was queued."""
    if not product.get("images") or left_alone(product, integration.get("store_language")) \
            or (importing(integration) and not created_since_connect(product, integration)) \
            or await in_step(db, integration, product):
        return False
    _, created = await jobs.enqueue(db, integration["account"], integration["_id"], int(product["id"]), reason)
    return created


async def in_step(db, integration: dict, product: dict) -> bool:
    """True when the service has nothing to do for the store product as it is now: its current photos are annotated
    (by the marker on the product, or by the service's own record of its write, which holds whatever the store does
    with `meta_data`; a product held for review counts), it has its catalogue entry (a product restored from the
    trash has none) while it is on show and none while it is not (a draft, private, hidden), and the merchant's own
    terms are the entry's (a change of them is a correction the shop's model learns)."""
    integration_id, store_id = integration["_id"], int(product["id"])
    written = await integrations.our_write(db, integration_id, store_id)
    if not is_annotated(product, integration_id, written):
        return False
    entry = await integrations.catalogue_product(db, integration["account"], integration_id, store_id)
    if not_on_show(product):  # a draft, private or hidden product has no place among the shop's similar items
        return entry is None
    return entry is not None and terms_moved(entry, product, integration_id, written) is None


def importing(integration: dict) -> bool:
    """True while the store's catalogue import has begun and not finished (running, or stopped until retried): the
    products that were in the store at the connect are its to read, and a first sync, which lists every product,
    would make each one a job of its own."""
    return (integration.get("import") or {}).get("state") in ("running", "stopped")


def left_alone(product: dict, language: str | None) -> str | None:
    """Why the service leaves the store product to another, or None. A variation (a size or colour of a variable
    product: WooCommerce fires product webhooks for each) has no categories or tags of its own: its parent is
    annotated. A product in another language than the store's `language` is a translation: its version in that
    language is (api/integrations/languages.py)."""
    if product.get("type") == "variation":
        return f"a variation of product {product_id(product.get('parent_id')) or 0}, which is annotated itself"
    return in_another_language(product, language)


def describe(summary: dict, hooks: dict | None = None) -> str:
    said = f"{summary['listed']} product(s) changed since {summary['modified_after'] or 'the beginning'}"
    if summary.get("published"):
        said += f", {summary['published']} scheduled product(s) published"
    said += f"; {summary['queued']} queued for annotation"
    if hooks and hooks["reactivated"]:
        said += f"; webhooks made active again: {', '.join(hooks['reactivated'])}"
    if hooks and hooks["error"]:
        said += f"; webhooks: {hooks['error']}"
    return said
