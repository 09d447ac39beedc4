"""WooCommerce stores registered by shops, and the webhook deliveries they sent.

Store secrets arrive here already sealed (api/integrations/vault.py); this module never sees them in clear.
A delivery is recorded once: WooCommerce builds a delivery id from the webhook id and the current second, so two
deliveries of one second share an id; the body's hash is therefore part of the de-duplication key.
"""
from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data import products
from api.data.common import insert_once, now, page, unique_index

# How long a webhook secret that was replaced still verifies deliveries: WooCommerce queues deliveries (Action
# Scheduler) and retries none, so those signed before the change may arrive minutes later.
SECRET_OVERLAP_S = 3600.0


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.integrations.create_index([("account", ASCENDING), ("created", DESCENDING)])
    # One integration per store and shop, however many connects arrive at once (a client retrying a slow connect,
    # a second click; each request checks the store for seconds before it creates): two would annotate and write
    # every product twice. A database where a shop connected a store twice keeps a plain index (logged) until the
    # shop disconnects one.
    await unique_index(db.integrations, [("account", ASCENDING), ("store_url", ASCENDING)], "a shop's store")
    await unique_index(db.former_integrations, [("account", ASCENDING), ("store_url", ASCENDING)],
                       "a shop's disconnected store")
    await db.webhook_deliveries.create_index([("integration", ASCENDING), ("delivery_key", ASCENDING)], unique=True)
    await db.webhook_deliveries.create_index([("integration", ASCENDING), ("received", DESCENDING)])
    # nx-27017 reads every store's deliveries unless `integration` has an index of its own (a store's deliveries
    # 17 → 1.7 ms at 20,000 over 10 stores; scripts/bench_lists.py).
    await db.webhook_deliveries.create_index([("integration", ASCENDING)])
    await db.store_writes.create_index([("integration", ASCENDING), ("product_id", ASCENDING)], unique=True)
    # nx-27017 answers a query from a single-field index only (a compound one is read whole: 3.3 ms against 0.46 at
    # 6,000 writes; measured), and a store product's id is nearly unique across stores.
    await db.store_writes.create_index([("product_id", ASCENDING)])


async def create(db: AsyncDatabase, account_id: str, fields: dict[str, Any]) -> dict | None:
    """The new integration; None when the shop has one with this store already (connected meanwhile).

    A store the shop disconnected and connects again takes back its former integration's id (`delete`), and its
    tagging policy: the service's marker on the store's products and its records of writes name that id, and so do
    the store products' catalogue entries, annotations and jobs. The import then finds the service's own terms as
    its own and brings the entries up to date instead of making each product a second one. `reconnected` says when
    the store had been disconnected."""
    former = await _first_known_as(db.former_integrations, account_id,
                                   {fields["store_url"], *fields.get("store_names", ())})
    integration = {"_id": new_id(), "account": account_id, "kind": "woocommerce", **fields, "created": now(),
                   "last_ping": None, "last_sync": None}
    if former is not None:
        integration |= {"_id": former["_id"], "reconnected": former["disconnected"]} | (
            {"policy": former["policy"]} if former.get("policy") else {})
    try:
        await insert_once(db.integrations, integration)
    except DuplicateKeyError:
        return None
    if former is not None:
        await db.former_integrations.delete_one({"_id": former["_id"]})
    return integration


def _known_as(document: dict, names: set[str]) -> bool:
    """True when the (former) integration's store is known by one of `names` (home pages, as `store_home` writes
    them): its address, or another the store answered at or named itself by (`store_names`)."""
    return document["store_url"] in names or bool(names & set(document.get("store_names") or ()))


async def _first_known_as(collection: AsyncCollection, account_id: str, names: set[str]) -> dict | None:
    """The shop's first (former) integration whose store is known by one of `names`; the shop's are read whole (a
    shop has a few stores)."""
    async for found in collection.find({"account": account_id}):
        if _known_as(found, names):
            return found
    return None


async def for_store(db: AsyncDatabase, account_id: str, *names: str) -> dict | None:
    """The shop's integration with the store known by any of `names` (home pages), if any."""
    return await _first_known_as(db.integrations, account_id, set(names))


async def get(db: AsyncDatabase, account_id: str, integration_id: str) -> dict | None:
    return await db.integrations.find_one({"_id": integration_id, "account": account_id})


async def by_id(db: AsyncDatabase, integration_id: str) -> dict | None:
    """For the webhook endpoint and the worker, which act for the store rather than for a signed-in shop."""
    return await db.integrations.find_one({"_id": integration_id})


async def still_connected(db: AsyncDatabase, integration: dict) -> bool:
    """True while `integration` (as read earlier) is the store's connection: neither disconnected since, nor
    connected again (a store connected again is a new connection under its former id, `create`)."""
    current = await db.integrations.find_one({"_id": integration["_id"]}, {"created": 1})
    return current is not None and current["created"] == integration["created"]


async def list_for(db: AsyncDatabase, account_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.integrations, {"account": account_id}, offset, limit)


async def delete(db: AsyncDatabase, account_id: str, integration_id: str) -> bool:
    """The integration forgotten with its delivery log (a store's deliveries name no shop); remembered as a former
    integration of its store (`former_integrations`: its id, address and policy) until the shop connects the store
    again (`create`). Its records of writes stay with it, the service's own account of what it wrote, for stores
    that drop its marker; its jobs, annotations and catalogue entries are the shop's and stay. One former
    integration per store: an older one at the same address (a store moved there in place) is forgotten then, with
    its records of writes."""
    gone = await db.integrations.find_one_and_delete({"_id": integration_id, "account": account_id})
    if gone is None:
        return False
    await db.webhook_deliveries.delete_many({"integration": integration_id})
    names = {gone["store_url"], *gone.get("store_names", ())}
    while (older := await _first_known_as(db.former_integrations, account_id, names)) is not None:
        await db.store_writes.delete_many({"integration": older["_id"]})
        await db.former_integrations.delete_one({"_id": older["_id"]})
    await db.former_integrations.insert_one({"_id": integration_id, "account": account_id,
                                             "store_url": gone["store_url"], "store_names": gone.get("store_names", []),
                                             "policy": gone.get("policy"), "disconnected": now()})
    return True


async def set_webhooks(db: AsyncDatabase, integration_id: str, delivery_url: str, webhooks: dict[str, Any]) -> None:
    """Where the store delivers (the API's URL as the shop reached it) and how the service's webhooks stand."""
    await db.integrations.update_one({"_id": integration_id},
                                     {"$set": {"delivery_url": delivery_url, "webhooks": webhooks}})


async def change(db: AsyncDatabase, account_id: str, integration_id: str, fields: dict[str, Any]) -> bool:
    """The store's URL, its sealed keys or webhook secret, changed in place: its id, policy, deliveries, records of
    writes and catalogue entries stay. False when the new URL is a store the shop connected meanwhile."""
    try:
        await db.integrations.update_one({"_id": integration_id, "account": account_id}, {"$set": fields})
    except DuplicateKeyError:
        return False
    return True


async def rotate_webhook_secret(db: AsyncDatabase, integration_id: str, sealed: str, previous: str | None) -> None:
    """The webhook secret (sealed) replaced; the `previous` one (sealed, or None) still verifies deliveries for
    SECRET_OVERLAP_S from now (`webhook_secrets`)."""
    await db.integrations.update_one({"_id": integration_id}, {"$set": {
        "webhook_secret": sealed, "previous_webhook_secret": previous, "secret_rotated": time.time()}})


def webhook_secrets(integration: dict) -> list[str]:
    """The sealed secrets a delivery may be signed with now: the webhook secret, and the one it replaced until
    SECRET_OVERLAP_S after the change (deliveries already on their way, and a store that had not taken the new one
    yet, sign with it)."""
    previous = integration.get("previous_webhook_secret")
    fresh = time.time() - integration.get("secret_rotated", 0.0) < SECRET_OVERLAP_S
    return [integration["webhook_secret"]] + ([previous] if previous and fresh else [])


async def set_policy(db: AsyncDatabase, account_id: str, integration_id: str, policy: dict[str, Any]) -> None:
    await db.integrations.update_one({"_id": integration_id, "account": account_id}, {"$set": {"policy": policy}})


async def set_category_paths(db: AsyncDatabase, integration_id: str, paths: dict[int, str]) -> None:
    """The store's categories' paths as the worker last read them ("Herren > Hemden", by id): the webhook route
    names a delivery's categories by them, as the worker names the products it reads."""
    await db.integrations.update_one({"_id": integration_id},
                                     {"$set": {"category_paths": {str(k): v for k, v in paths.items()}}})


async def set_store_language(db: AsyncDatabase, integration_id: str, language: str | None) -> None:
    """The language the service's requests to a multilingual store get (api/integrations/languages.py)."""
    await db.integrations.update_one({"_id": integration_id}, {"$set": {"store_language": language}})


def category_paths(integration: dict) -> dict[int, str]:
    return {int(k): v for k, v in (integration.get("category_paths") or {}).items()}


async def record_ping(db: AsyncDatabase, integration_id: str, webhook_id: int) -> None:
    await db.integrations.update_one({"_id": integration_id},
                                     {"$set": {"last_ping": {"webhook_id": webhook_id, "at": time.time()}}})


async def record_sync(db: AsyncDatabase, integration_id: str, sync: dict[str, Any]) -> None:
    await db.integrations.update_one({"_id": integration_id}, {"$set": {"last_sync": sync}})


async def record_import(db: AsyncDatabase, integration_id: str, progress: dict[str, Any]) -> None:
    """Where the store's catalogue import stands (api/integrations/catalogue_import.py): the next page to read,
    pages, products seen, imported and failed, its state; a retried import goes on from `next_page`."""
    await db.integrations.update_one({"_id": integration_id}, {"$set": {"import": progress}})


async def import_stopped(db: AsyncDatabase, integration_id: str, job_id: str, reason: str) -> None:
    """The catalogue import's job gave up: its progress says so, why, and which job retrying goes on from `next_page`
    (an import that was done stays done)."""
    # `$nin`, not `$ne`: nx-27017's update_one does not match `$ne` on a missing field (an import stopped before its
    # first page has no progress yet), where its find does, and MongoDB both.
    await db.integrations.update_one({"_id": integration_id, "import.state": {"$nin": ["done"]}},
                                     {"$set": {"import.state": "stopped", "import.reason": reason, "import.job": job_id}})


async def import_resumed(db: AsyncDatabase, integration_id: str) -> None:
    """A stopped import's job was put back in the queue: its progress says it runs again (from `next_page`)."""
    await db.integrations.update_one({"_id": integration_id, "import.state": "stopped"},
                                     {"$set": {"import.state": "running"}, "$unset": {"import.reason": "", "import.job": ""}})


async def record_delivery(db: AsyncDatabase, integration_id: str, delivery_key: str, fields: dict[str, Any]) -> str | None:
    """The new record's id; None when this delivery was recorded already, however close together the two came
    (the unique key decides, not a look-up before the insert)."""
    record = {"_id": new_id(), "integration": integration_id, "delivery_key": delivery_key, "received": time.time(),
              **fields}
    try:
        await insert_once(db.webhook_deliveries, record)
    except DuplicateKeyError:
        return None
    return record["_id"]


async def prune_deliveries(db: AsyncDatabase, older_than_s: float) -> int:
    """Delete the webhook deliveries received more than `older_than_s` ago (a duplicate comes within minutes or
    hours, and a late one meets the product's own record of what was written); how many went."""
    result = await db.webhook_deliveries.delete_many({"received": {"$lt": time.time() - older_than_s}})
    return result.deleted_count


async def update_delivery(db: AsyncDatabase, record_id: str, fields: dict[str, Any]) -> None:
    await db.webhook_deliveries.update_one({"_id": record_id}, {"$set": fields})


async def our_write(db: AsyncDatabase, integration_id: str, product_id: int) -> dict | None:
    """What the service last wrote, or is writing, to this store product (`record_write`): its `state` is
    "writing" from just before the PUT until "written" after it."""
    return await db.store_writes.find_one({"integration": integration_id, "product_id": product_id})


async def record_write(db: AsyncDatabase, integration_id: str, product_id: int, written: dict[str, Any],
                       state: str) -> None:
    """Remember a write-back: the fingerprint of the photos annotated, the terms added, when; recorded as "writing"
    before the PUT (the store may fire `product.updated` before the PUT has answered) and "written" after it.

    Kept under the `_id` "<integration>:<product id>": nx-27017 updates by `_id` without reading the collection
    (0.25 ms against 2.4-5 ms by the two fields at 6,000 writes; measured). A record made before it was kept so
    (another `_id`) makes the upsert collide with the unique index on the two fields, and is then updated by them."""
    change = {"$set": {**written, "state": state, "at": time.time()},
              "$setOnInsert": {"integration": integration_id, "product_id": product_id}}
    try:
        await db.store_writes.update_one({"_id": f"{integration_id}:{product_id}"}, change, upsert=True)
    except DuplicateKeyError:
        await db.store_writes.update_one({"integration": integration_id, "product_id": product_id},
                                         {"$set": change["$set"]})


async def deliveries(db: AsyncDatabase, integration_id: str, offset: int, limit: int) -> tuple[list[dict], int]:
    return await page(db.webhook_deliveries, {"integration": integration_id}, offset, limit,
                      order=[("received", DESCENDING), ("_id", DESCENDING)])


async def catalogue_product(db: AsyncDatabase, account_id: str, integration_id: str, product_id: int) -> dict | None:
    """The shop's catalogue product made from this store product, if any: by its top-level `store_key`, which has an
    index of its own (api/data/products.py). Looked up by the nested `source` fields, nx-27017 read every product of
    the shop (25 ms at 2,000 products), and by (account, store_key) too (7.3 ms): 0.49 ms now, three times a product
    job with the webhook's; measured. The account is checked here, not asked: beside the `account` index, nx-27017
    would read the shop's products through that one (14.5 ms against 0.81 at 20,000 products over 5 shops;
    scripts/bench_lists.py)."""
    found = await db.products.find_one({"store_key": products.store_key(integration_id, product_id)},
                                       {"embeddings": 0, "signals": 0})
    return found if found is not None and found.get("account") == account_id else None


async def every(db: AsyncDatabase, integration_ids: list[str] | None = None) -> list[dict]:
    """All registered stores, or those of `integration_ids` (operators' scripts: no shop context)."""
    query = {"_id": {"$in": integration_ids}} if integration_ids else {}
    return await db.integrations.find(query).to_list(length=None)
