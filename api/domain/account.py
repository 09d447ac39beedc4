"""A shop leaving: everything it owns exported on request, then deleted — documents, image files, its similar-item
index, its jobs and its webhooks in its stores.

The export is a zip of one JSON file per collection (secrets and vectors left out) and the stored images' files.
Deletion removes the service's webhooks from each connected store first (best effort: a store that is down keeps
a webhook the API then answers 404, which WooCommerce disables), then the files, the index and the documents.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import zipfile
from typing import IO

from pydantic_core import to_jsonable_python

from api.data import accounts, integrations, ownership, shop_models
from api.integrations.hooks import disconnect
from api.services import Services

EXPORTED = ("accounts", "products", "images", "annotations", "reviews", "api_keys", "integrations",
            "former_integrations", "jobs", "callbacks", "deliveries", "shop_models")


async def export_account(services: Services, account_id: str) -> IO[bytes]:
    """The shop's data as a zip in a temporary file, read from its start."""
    found = await ownership.documents(services.db, account_id, EXPORTED)
    archive = tempfile.TemporaryFile()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, docs in found.items():
            text = json.dumps(to_jsonable_python(docs), indent=1, ensure_ascii=False)
            await asyncio.to_thread(bundle.writestr, f"{name}.json", text)
        async for image_id, data in services.images.shop_images(account_id):
            await asyncio.to_thread(bundle.writestr, f"images/{image_id}", data)
    archive.seek(0)
    return archive


async def delete_account(services: Services, account_id: str) -> dict[str, int]:
    """What was deleted, per collection, plus the files and the index. Marked first: a create still running for the
    shop takes back what it writes after the sweep (`accounts.open_for_writes`)."""
    await accounts.mark_leaving(services.db, account_id)
    for listed in (await ownership.documents(services.db, account_id, ("integrations",)))["integrations"]:
        integration = await integrations.by_id(services.db, listed["_id"])  # with its sealed keys
        if integration is not None:
            await disconnect(services.http, services.vault, integration)
    files = await services.images.remove_shop(account_id)
    models = await shop_models.remove_shop(services.db, account_id)  # their arrays are GridFS files
    index = await asyncio.to_thread(services.catalogues.store.drop, account_id)
    deleted = await ownership.delete_all(services.db, account_id)
    services.memory.accounts.forget(account_id)
    services.memory.keys.clear()
    services.memory.callback_targets.forget(account_id)
    return deleted | {"image_files": files, "index": int(index), "shop_models": models}
