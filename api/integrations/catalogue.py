"""A WooCommerce product in the shop's similar-item catalogue: its photo stored, its embedding indexed.

The catalogue product is found again by its store origin (`source`), so annotating the product again (new photos)
replaces its entry instead of adding a second one.
"""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from api.core.errors import ApiError
from api.data import images, integrations, products
from api.photos import prepare


class CatalogueFailure(Exception):
    """The photo cannot enter the catalogue (not an image, too large): running the job again will not help."""


async def add_to_catalogue(services: Any, job: dict, product: dict, photo: bytes, embedding: np.ndarray,
                           annotation: dict) -> str:
    """The catalogue product id of the store product, created or updated, and upserted in the shop's index."""
    db, account_id = services.db, job["account"]
    try:
        checked = await asyncio.to_thread(prepare, photo, None, len(photo) + 1)
    except ApiError as error:
        raise CatalogueFailure(f"the product photo is not a usable image: {error.message}") from None
    image = images.new_image(account_id, checked.data, checked.content_type, checked.width, checked.height)
    await images.insert_many(db, [image])
    fields = {"title": product.get("name") or f"WooCommerce product {product['id']}", "sku": product.get("sku") or None,
              "url": product.get("permalink"), "category": (annotation.get("category") or [{}])[0].get("label"),
              "source": {"integration": job["integration"], "product_id": product["id"]}}
    existing = await integrations.catalogue_product(db, account_id, job["integration"], product["id"])
    vector = [float(x) for x in np.asarray(embedding, dtype=np.float32)]
    if existing is None:
        stored = await products.insert(db, products.new_product(account_id, fields | {"sku": None}, [image], [vector]))
        product_id = stored["_id"]
    else:
        product_id = existing["_id"]
        await products.update(db, account_id, product_id, fields | {"sku": existing.get("sku"),
                                                                    "images": products.image_metas([image]),
                                                                    "embeddings": [vector]})
        await images.delete(db, account_id, [i for i in products.image_ids(existing) if i != image["_id"]])
    index = services.indexes.get_or_create(account_id, dim=len(vector))
    index.upsert(product_id, np.asarray([vector], dtype=np.float32), images=[image["_id"]], category=fields["category"])
    await asyncio.to_thread(services.indexes.save, account_id)
    return product_id
