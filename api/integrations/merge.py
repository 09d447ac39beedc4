"""What the service writes to a WooCommerce product, merged with the merchant's own categories and tags.

The service adds a category and tags (what the shop's policy decided: api/integrations/policy.py); it never
removes what the merchant chose. What it added is remembered on the product itself, in the `kalas_iris` meta entry, with a
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
from urllib.parse import unquote

from api.core.limits import json_value
from api.integrations.policy import Decision
from api.integrations.store_data import product_id

MARKER_KEY = "kalas_iris"
ADDED = ("added_categories", "added_tags")  # the marker's names of the terms the service added
# WooCommerce puts every product without a category in its default category, which it creates at install as
# "Uncategorized" in the site's language, its slug made from the translated name (WC_Install::create_terms); the
# REST API does not say which category is the default. A real category replaces it, and it is nobody's choice, so
# the shop's model never learns it. Known by its slug in WooCommerce's most used languages (a slug in a non-Latin
# script comes percent-encoded).
PLACEHOLDER_SLUGS = frozenset({
    "uncategorized", "unkategorisiert", "non-classe", "sin-categorizar", "sin-categoria", "senza-categoria",
    "sem-categoria", "geen-categorie", "ongecategoriseerd", "bez-kategorii", "okategoriserad", "okategoriserade",
    "ukategoriseret", "ukategorisert", "luokittelematon", "nezarazene", "kategorilenmemis", "без-категории",
    "未分类", "未分類"})


def is_placeholder(term: dict) -> bool:
    """True for WooCommerce's default category ("Uncategorized", "Unkategorisiert", …)."""
    slug = term.get("slug")
    return isinstance(slug, str) and unquote(slug).lower() in PLACEHOLDER_SLUGS


def images_fingerprint(product: dict) -> str:
    """Changes when the product's photos change (added, removed, replaced or reordered), and only then."""
    sources = [f"{image.get('id')}|{image.get('src')}" for image in product.get("images", [])]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()[:32]


def marker(product: dict, integration_id: str) -> dict | None:
    """The service's marker on the product when this integration wrote it. A store connected to two integrations
    (a shop's staging and production accounts) carries one marker, the last writer's: the other integration's is
    not this one's (each keeps its own record of its writes as well). A marker written before markers named their
    integration counts as any integration's."""
    for meta in product.get("meta_data", []):
        if meta.get("key") == MARKER_KEY:
            value = meta.get("value")
            if isinstance(value, str):
                try:
                    value = json_value(value)
                except ValueError:
                    return None
            if not isinstance(value, dict) or value.get("integration", integration_id) != integration_id:
                return None
            # The names the service added, as text: a marker is the store's to keep, and a plugin may mangle it.
            return value | {kind: [name for name in value.get(kind) or [] if isinstance(name, str)]
                            if isinstance(value.get(kind) or [], list) else [] for kind in ADDED}
    return None


def is_annotated(product: dict, integration_id: str, written: dict | None = None) -> bool:
    """True when the service already wrote its annotation for the product's current photos: by the marker on the
    product, or by the service's own record of its last write to it (`written`, api/data/integrations.py), which
    holds whatever the store does with `meta_data` (some plugins strip it, some stores never send it back)."""
    fingerprint = images_fingerprint(product)
    return any(found is not None and found.get("images") == fingerprint
               for found in (marker(product, integration_id), written))


def landed(product: dict, written: dict) -> bool:
    """True when the product carries what the service's record of a write (`written`, still "writing": its PUT's
    answer never came, a slow store) was to write, for the photos it has: the PUT landed. A write that added no
    term of its own says nothing either way."""
    wanted = {kind: {name.lower() for name in written.get(f"added_{kind}") or []} for kind in ("categories", "tags")}
    if written.get("category"):
        wanted["categories"].add(str(written["category"]).lower())
    have = {kind: {str(t.get("name", "")).lower() for t in product.get(kind, []) if isinstance(t, dict)}
            for kind in wanted}
    return (written.get("images") == images_fingerprint(product) and any(wanted.values())
            and all(wanted[kind] <= have[kind] for kind in wanted))


def merchant_terms(product: dict, integration_id: str, written: dict | None = None) -> tuple[list[str], list[str]]:
    """(categories, tags) the merchant gave the product: its terms less those the service added (by the marker, or
    the service's own record of its write) and WooCommerce's default category (`is_placeholder`). What the shop's own
    model learns from: never its own predictions."""
    ours = marker(product, integration_id) or written or {}

    def own(kind: str) -> list[str]:
        added = {name.lower() for name in ours.get(f"added_{kind}", [])}
        return [t["name"] for t in product.get(kind, [])
                if t.get("name") and t["name"].lower() not in added and not is_placeholder(t)]

    return own("categories"), own("tags")


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
        if name in ours and name not in wanted or product_id(term.get("id")) is None:  # no id: none to write it by
            continue
        if drop_placeholder and is_placeholder(term) and predicted:
            continue
        keep.append(product_id(term["id"]))
        have.add(name)
    add = tuple(name for name in dict.fromkeys(predicted) if name.lower() not in have)
    merchant_had = {t["name"].lower() for t in current if t["name"].lower() not in ours}
    added = tuple(name for name in dict.fromkeys(predicted) if name.lower() not in merchant_had)
    return Merge(tuple(keep), add, added)


def marker_value(product: dict, integration_id: str, decision: Decision, categories: Merge, tags: Merge,
                 at: str) -> dict:
    """What the write is remembered by. A person's own terms for the shop (`decision.by_person`) are not counted as
    the service's: they stay the merchant's, which a later annotation never replaces and the shop's model learns."""
    ours = not decision.by_person
    return {"integration": integration_id, "images": images_fingerprint(product), "model": decision.model,
            "category": decision.category,
            "level": decision.level, "added_categories": list(categories.added) if ours else [],
            "added_tags": list(tags.added) if ours else [], "annotated_at": at}
