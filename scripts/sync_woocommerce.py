"""Reconcile WooCommerce stores with the service: queue every product changed since the last sync that is not
annotated yet (what failed or disabled webhooks never delivered). The worker then does the work.

    python -m scripts.sync_woocommerce --all                  # every registered store
    python -m scripts.sync_woocommerce --integration <id>     # one store (the id the API shows)

Settings come from the same KALAS_* environment variables as the API. The API's `POST
/api/v1/integrations/<id>/sync` does the same from the console, through the worker.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import sys

from api.core.settings import Settings, load_settings
from api.data import integrations
from api.data.db import ensure_indexes, open_client
from api.intake.fetch import SafeHttp
from api.integrations.sync import describe, sync_store
from api.integrations.vault import Vault
from api.integrations.store import integration_client
from api.integrations.store_errors import StoreError


async def sync(settings: Settings, integration_ids: list[str] | None) -> int:
    """Sync the stores; returns how many could not be synced."""
    client = open_client(settings.mongo_uri)
    fetcher = SafeHttp(allow_origins=settings.fetch_allow_origins)
    vault = Vault.from_secret_key(settings.secret_key)
    failed = 0
    try:
        db = client[settings.database]
        await ensure_indexes(db)
        found = await integrations.every(db, integration_ids)
        for missing in set(integration_ids or []) - {i["_id"] for i in found}:
            print(f"{missing}: no such integration", file=sys.stderr)
            failed += 1
        for integration in found:
            store = integration_client(fetcher, vault, integration,
                                       on_tree=functools.partial(integrations.set_category_paths, db, integration["_id"]))
            try:
                print(f"{integration['_id']} {integration['store_url']}: {describe(await sync_store(db, integration, store))}")
            except StoreError as error:
                print(f"{integration['_id']} {integration['store_url']}: not synced: {error}", file=sys.stderr)
                failed += 1
            finally:
                await store.aclose()
    finally:
        await fetcher.aclose()
        await client.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.sync_woocommerce", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every registered store")
    which.add_argument("--integration", action="append", metavar="ID", help="a store's integration id (repeatable)")
    args = parser.parse_args(argv)
    return 1 if asyncio.run(sync(load_settings(), args.integration)) else 0


if __name__ == "__main__":
    sys.exit(main())
