"""A WooCommerce product in the shop's similar-item catalogue, through the API's own catalogue code
(api/catalogue.py: database first, index second, saved so the API process reloads it).

The catalogue product carries its origin in `metadata`, so annotating the store product again (new photos)
replaces that entry's images instead of adding a second product.
"""
from __future__ import annotations

import asyncio
from typing import Any

from api import catalogue
from api.core.errors import ApiError
from api.data import integrations, products
from api.data.images import ImageFileError
from api.photos import prepare


class CatalogueFailure(Exception):
    """The photo cannot enter the catalogue; `retryable` says whether the cause may pass (the models away)."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def origin(integration_id: str, product_id: int) -> dict[str, str]:
    return {"source": "woocommerce", "integration": integration_id, "store_product_id": str(product_id)}


async def add_to_catalogue(services: Any, job: dict, product: dict, photo: bytes, max_bytes: int) -> str:
    """The id of the catalogue product made from the store product (created, or its images replaced)."""
    db, account_id = services.db, job["account"]
    try:
        checked = await asyncio.to_thread(prepare, photo, None, max_bytes)
        fields = {"title": product.get("name") or f"WooCommerce product {product['id']}", "sku": None,
                  "url": product.get("permalink"), "metadata": origin(job["integration"], product["id"])}
        existing = await integrations.catalogue_product(db, account_id, job["integration"], product["id"])
        if existing is None:
            stored = await catalogue.create_product(db, services.files, services.catalogues, services.inference,
                                                    account_id, fields, [checked])
            return stored["_id"]
        await products.update(db, account_id, existing["_id"], {"title": fields["title"], "url": fields["url"]})
        await catalogue.replace_images(db, services.files, services.catalogues, services.inference, account_id,
                                       existing, [checked])
        return existing["_id"]
    except ApiError as error:
        raise CatalogueFailure(f"the photo could not enter the similar-item catalogue: {error.message}",
                               retryable=error.status >= 500) from None
    except ImageFileError as error:
        raise CatalogueFailure(f"the photo could not be stored: {error.message}", retryable=error.retryable) from None
