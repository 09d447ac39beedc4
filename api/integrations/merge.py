"""From an annotation to the product's WooCommerce categories and tags, merged with the merchant's own.

The service adds a category (the predicted one) and tags (attribute values and colour names); it never removes what
the merchant chose. What it added is remembered on the product itself, in the `kalas_iris` meta entry, with a
fingerprint of the images it looked at. That marker, and the service's own record of the same write (kept in
its database, for stores that drop `meta_data`), is what stops the loop: the service's own write fires
`product.updated`, whose photos match what was written, so there is nothing to do. When the
merchant changes the photos the fingerprint no longer matches and the product is annotated again; the terms the
service added last time are then replaced, the merchant's stay.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

MARKER_KEY = "kalas_iris"
# WooCommerce puts every product without a category in "Uncategorized"; a real category replaces it.
PLACEHOLDER_CATEGORY = "uncategorized"


@dataclass(frozen=True)
class Prediction:
    category: str | None
    tags: tuple[str, ...]
    model: str


def prediction_from(annotation: dict, *, min_score: float = 0.5, min_colour_share: float = 0.15,
                    max_colours: int = 2) -> Prediction:
    """Top category; each attribute group's best value when it is likely enough; the main colours."""
    category = annotation["category"][0]["name"] if annotation.get("category") else None
    tags: list[str] = []
    for values in annotation.get("attributes", {}).values():
        if values and values[0]["score"] >= min_score:
            tags.append(values[0]["name"])
    colours = [c["name"] for c in annotation.get("colours", []) if c["share"] >= min_colour_share][:max_colours]
    model = annotation.get("model", {})
    return Prediction(category, tuple(dict.fromkeys(tags + colours)), f"{model.get('name')}:{model.get('version')}")


def images_fingerprint(product: dict) -> str:
    """Changes when the product's photos change (added, removed, replaced or reordered), and only then."""
    sources = [f"{image.get('id')}|{image.get('src')}" for image in product.get("images", [])]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()[:32]


def marker(product: dict) -> dict | None:
    for meta in product.get("meta_data", []):
        if meta.get("key") == MARKER_KEY:
            value = meta.get("value")
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    return None
            return value if isinstance(value, dict) else None
    return None


def is_annotated(product: dict, written: dict | None = None) -> bool:
    """True when the service already wrote its annotation for the product's current photos: by the marker on the
    product, or by the service's own record of its last write to it (`written`, api/data/integrations.py), which
    holds whatever the store does with `meta_data` (some plugins strip it, some stores never send it back)."""
    fingerprint = images_fingerprint(product)
    return any(found is not None and found.get("images") == fingerprint for found in (marker(product), written))


@dataclass(frozen=True)
class Merge:
    """Term ids to keep as they are, names to add (the caller finds or creates them), names the service owns."""

    keep_ids: tuple[int, ...]
    add_names: tuple[str, ...]
    added: tuple[str, ...]


def merge_terms(current: list[dict], predicted: list[str], previously_added: list[str],
                drop_placeholder: bool = False) -> Merge:
    """Keep the merchant's terms; replace the service's previous ones by `predicted`.

    A predicted name the merchant already has is not added again and not counted as the service's, so a later
    annotation never takes it away.
    """
    ours = {name.lower() for name in previously_added}
    wanted = {name.lower() for name in predicted}
    keep, have = [], set()
    for term in current:
        name = term["name"].lower()
        if name in ours and name not in wanted:
            continue
        if drop_placeholder and term.get("slug") == PLACEHOLDER_CATEGORY and predicted:
            continue
        keep.append(int(term["id"]))
        have.add(name)
    add = tuple(name for name in dict.fromkeys(predicted) if name.lower() not in have)
    merchant_had = {t["name"].lower() for t in current if t["name"].lower() not in ours}
    added = tuple(name for name in dict.fromkeys(predicted) if name.lower() not in merchant_had)
    return Merge(tuple(keep), add, added)


def marker_value(product: dict, prediction: Prediction, categories: Merge, tags: Merge, at: str) -> dict:
    return {"images": images_fingerprint(product), "model": prediction.model, "category": prediction.category,
            "added_categories": list(categories.added), "added_tags": list(tags.added), "annotated_at": at}
