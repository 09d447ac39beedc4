"""A shop leaving: everything it owns exported on request, then deleted — documents, image files, its similar-item
index, its jobs and its webhooks in its stores.

The export is a zip of one JSON file per collection (secrets and vectors left out) and the stored images' files.
Deletion removes the service's webhooks from each connected store first (best effort: a store that is down keeps
a webhook the API then answers 404, which WooCommerce disables), then the files, the index and the documents.
"""
from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import zipfile
from typing import IO

from pydantic_core import to_jsonable_python

from api.data import integrations, ownership
from api.integrations.hooks import remove_webhooks
from api.integrations.woo_client import StoreError, WooClient
from api.services import Services

log = logging.getLogger(__name__)
EXPORTED = ("accounts", "products", "images", "annotations", "reviews", "api_keys", "integrations", "jobs", "callbacks",
            "deliveries")


async def export_account(services: Services, account_id: str) -> IO[bytes]:
    """The shop's data as a zip in a temporary file, read from its start."""
    found = await ownership.documents(services.db, account_id, EXPORTED)
    shop_files = services.images.root / account_id

    def write() -> IO[bytes]:
        archive = tempfile.TemporaryFile()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, docs in found.items():
                bundle.writestr(f"{name}.json", json.dumps(to_jsonable_python(docs), indent=1, ensure_ascii=False))
            for path in sorted(shop_files.rglob("*")) if shop_files.is_dir() else []:
                if path.is_file():
                    bundle.write(path, f"images/{path.relative_to(shop_files)}")
        archive.seek(0)
        return archive

    return await asyncio.to_thread(write)


async def delete_account(services: Services, account_id: str) -> dict[str, int]:
    """What was deleted, per collection, plus the files and the index."""
    for integration in (await ownership.documents(services.db, account_id, ("integrations",)))["integrations"]:
        await _remove_store_webhooks(services, integration["_id"])
    shop_files = services.images.root / account_id
    files = sum(1 for path in shop_files.rglob("*") if path.is_file()) if shop_files.is_dir() else 0
    await asyncio.to_thread(shutil.rmtree, shop_files, True)
    index = await asyncio.to_thread(services.catalogues.store.drop, account_id)
    deleted = await ownership.delete_all(services.db, account_id)
    services.memory.accounts.forget(account_id)
    services.memory.keys.clear()
    services.memory.callback_targets.forget(account_id)
    return deleted | {"image_files": files, "index": int(index)}


async def _remove_store_webhooks(services: Services, integration_id: str) -> None:
    doc = await integrations.by_id(services.db, integration_id)  # with its sealed keys
    if not doc or not doc.get("delivery_url"):
        return
    vault = services.vault
    store = WooClient(doc["store_url"], vault.open(doc["consumer_key"]), vault.open(doc["consumer_secret"]), timeout=10)
    try:
        await remove_webhooks(store, doc["delivery_url"])
    except StoreError as error:
        log.warning("integration %s: its webhooks could not be deleted from the store: %s", integration_id, error)
    finally:
        await store.aclose()
