"""Kalas-Iris vector index: one FAISS index per catalogue, vectors keyed by product id. Knows nothing of HTTP or MongoDB.

    store = CatalogueStore("var/indexes")
    index = store.get_or_create("shop-42", dim=256)
    index.upsert("sku-1", vectors, images=["front", "back"], category="tshirts")
    store.save("shop-42")
    index.search(query, k=10, category="tshirts") -> [Hit(product_id, score, image), ...]
"""
from index.catalogue import CatalogueIndex, Hit
from index.kinds import EXACT_LIMIT, choose_kind
from index.persist import load, save
from index.store import CatalogueStore, check_catalogue_id

__all__ = ["CatalogueIndex", "CatalogueStore", "EXACT_LIMIT", "Hit", "check_catalogue_id", "choose_kind", "load", "save"]
