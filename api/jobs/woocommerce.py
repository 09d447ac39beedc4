"""The WooCommerce jobs: `product` annotates one store product and writes back what the shop's policy applies;
`correction` writes a person's review of it; `sync` finds what the webhooks missed (api/integrations/sync.py).

A product job, in order: read the product as it is now (never trust the webhook's copy: deliveries come late, twice,
or out of order) → skip it if its current photos are already annotated → a product of the store's catalogue at connect
that the merchant categorised is the import's, whichever comes first: imported, nothing written → fetch its main photo
(SSRF-safe, size and time limits) and check it by the API's own policy (api/intake/photo.py) → annotate it and store
the annotation as the shop's, with what its tagging policy decided (api/integrations/policy.py) → put it in the shop's
similar-item catalogue with the embedding that came with the annotation, while it is on show to customers (not a
draft, private or hidden: `not_on_show`) → a held product waits in the review queue, nothing written → else find or
create the category and tags → PUT them merged with the merchant's own, with the marker that stops the
`product.updated` loop, and record the write in the service's own database too (a store that drops `meta_data` must
not make it loop).
"""
from __future__ import annotations

import datetime as dt
import functools

from api.data import annotations, integrations, products
from api.domain import catalogue
from api.domain.embedding import Made, embed, made_by_annotation
from api.domain.annotations import Submitted, annotate
from api.domain.errors import DomainError
from api.domain.shop_models import queue_training, retrain_if_taught
from api.integrations.catalogue_import import (created_since_connect, entry_lock, import_catalogue,
                                              import_product, store_entry, store_fields, store_name, store_page,
                                              store_photos, terms_moved, usable_photo)
from api.integrations.merge import (MARKER_KEY, Merge, images_fingerprint, is_annotated, landed, marker, marker_value,
                                    merchant_terms, merge_terms)
from api.integrations.hooks import ensure_webhooks
from api.integrations.languages import language_of, store_language
from api.integrations.policy import Decision, decide, from_review, policy_of
from api.integrations.store import integration_client
from api.integrations.store_data import not_on_show, product_id
from api.integrations.sync import describe, left_alone, sync_store
from api.integrations.store_errors import StoreError
from api.integrations.woo_client import WooClient
from api.intake.photo import check
from api.jobs.runner import Step
from api.services import Services

STORE_TIMEOUT_S = 15.0


class WooCommerceJobs:
    """The store kinds (product, correction, sync); one client per store, kept: its connections and the store's term
    ids are reused job to job."""

    def __init__(self, services: Services, store_timeout_s: float = STORE_TIMEOUT_S) -> None:
        self.services = services
        self.store_timeout_s = store_timeout_s
        self._stores: dict[str, tuple[tuple, WooClient]] = {}

    async def run(self, job: dict, step: Step) -> str:
        integration = await integrations.by_id(self.services.db, job["integration"])
        if integration is None:
            return ("not written: the store is disconnected; the review is written to it when the store is connected "
                    "again" if job.get("kind") == "correction" else "the store is disconnected")
        store = await self._store(integration)  # every request it sends is checked against private networks
        if job.get("kind") == "sync":
            hooks = None
            if integration.get("delivery_url"):  # the webhooks the store disabled after failed deliveries, back on
                secret = self.services.vault.open(integration["webhook_secret"])
                hooks = await ensure_webhooks(store, integration["delivery_url"], secret)
                await integrations.set_webhooks(self.services.db, integration["_id"], integration["delivery_url"], hooks)
            return describe(await sync_store(self.services.db, integration, store), hooks)
        if job.get("kind") == "correction":
            return await write_correction(self.services, job, integration, store, step)
        if job.get("kind") == "import":
            return await import_catalogue(self.services, integration, store, step)
        return await annotate_product(self.services, job, integration, store, step)

    async def gave_up(self, job: dict, reason: str) -> None:
        """The job's own record (the integration's job list) is what the shop reads; a dead import says so in the
        integration's import progress too, which the console shows with a way to retry it."""
        if job.get("kind") == "import":
            await integrations.import_stopped(self.services.db, job["integration"], job["_id"], reason)

    async def _store(self, integration: dict) -> WooClient:
        identity = (integration["store_url"], integration["consumer_key"], integration["consumer_secret"],
                    integration.get("store_language"))  # learned by another worker: a client in that language
        known = self._stores.get(integration["_id"])
        if known is not None and known[0] == identity:
            return known[1]
        if known is not None:
            await known[1].aclose()
        store = integration_client(self.services.http, self.services.vault, integration, timeout=self.store_timeout_s,
                                   on_tree=functools.partial(integrations.set_category_paths, self.services.db,
                                                             integration["_id"]))
        self._stores[integration["_id"]] = (identity, store)
        return store

    async def aclose(self) -> None:
        for _, store in self._stores.values():
            await store.aclose()
        self._stores.clear()


async def annotate_product(services: Services, job: dict, integration: dict, store: WooClient, step: Step) -> str:
    """The outcome, in words; raises a DomainError when it cannot finish (the runner decides on a retry)."""
    db = services.db
    product = await store.get_product(job["product_id"])
    if product is None or product.get("status") == "trash":
        gone = "no longer exists in the store" if product is None else "is in the store's trash"
        removed = await remove_from_catalogue(services, job)
        unqueued = await annotations.leave_queue(db, job["account"], job["integration"], int(job["product_id"]),
                                                 f"the product {gone}")
        return f"the product {gone}" + (": taken out of the shop's similar-item catalogue" if removed else "") + (
            f"; {unqueued} annotation(s) out of the review queue" if unqueued else "")
    language = await store_language(db, integration, store) if language_of(product) else None
    if (reason := left_alone(product, language)) is not None:
        return reason
    await step("product read", f"{product.get('name', '')!r}, {len(product.get('images', []))} photo(s)")
    written = await integrations.our_write(db, job["integration"], int(product["id"]))
    if written and written["state"] == "writing" and landed(product, written):
        # An earlier attempt's PUT landed though its answer never came (a slow store): that was the write. Without
        # this, a store that also drops the marker had the product annotated and written again at every attempt.
        await integrations.record_write(db, job["integration"], int(product["id"]), {}, "written")
        written = {**written, "state": "written"}
    if await follow_merchant_terms(services, job, product, written):
        await step("terms followed", "the merchant changed the product's own terms: its shop model retrains")
    hidden = not_on_show(product)
    if is_annotated(product, job["integration"], written if written and written["state"] != "writing" else None):
        held = " (held for review)" if written and written["state"] == "held" else ""
        if hidden:  # made a draft, private or hidden (a product restored from the trash is a draft): out of the
            # similar items a storefront shows, and back in the review queue if it left it for the trash
            removed = await remove_from_catalogue(services, job)
            queued = await annotations.back_to_queue(db, job["account"], job["integration"], int(product["id"]))
            return f"already annotated for its current photos{held}; {hidden}" + (
                ": taken out of the shop's similar-item catalogue until it is on show" if removed else "") + (
                "; its annotation back in the review queue" if queued else "")
        if await integrations.catalogue_product(db, job["account"], job["integration"], int(product["id"])) is None:
            # Restored from the trash, or put on show (published, or no longer hidden): in the similar-item catalogue
            # as it is, and back in the review queue if it was there; nothing written to the store.
            await retrain_if_taught(db, job["account"], await import_product(services, integration, product, written,
                                                                             record=False))
            queued = await annotations.back_to_queue(db, job["account"], job["integration"], int(product["id"]))
            return (f"already annotated for its current photos{held}; in the shop's similar-item catalogue now that "
                    f"it is on show"
                    + ("; its annotation back in the review queue" if queued else ""))
        return f"already annotated for its current photos{held}"
    if not product.get("images"):
        return "the product has no photo yet (it is annotated when one is added)"
    if written is None and not created_since_connect(product, integration) \
            and merchant_terms(product, job["integration"])[0]:
        # In the store's catalogue when it was connected and categorised by the merchant: the import's, whether or not
        # it has reached the product yet (a webhook or a sync may come first, or after the import stopped).
        await retrain_if_taught(db, job["account"], await import_product(services, integration, product))
        return ("categorised by the merchant before the store was connected: imported into the shop's catalogue, "
                "nothing written to the store")

    data, source, main = await usable_photo(services, product)
    max_bytes = services.settings.max_upload_bytes
    # The main photo could not be used: the catalogue entry's main one is the photo annotated (the store's order
    # is kept for everything else, the fingerprint of its photos first).
    catalogued = {**product, "images": [main, *(image for image in product["images"] if image is not main)]}
    await step("photo fetched", f"{len(data)} bytes from {source}")
    policy = policy_of(integration)
    origin = {"kind": "woocommerce", "integration": job["integration"], "product_id": str(product["id"]),
              "images": images_fingerprint(product)}  # the photos it was made for: a review of it fits those only
    if page := store_page(product):
        origin["page"] = page  # the reviewer's way to the product in the store
    # Annotated (stored as the shop's annotation, with what the policy did), then indexed with the embedding the
    # annotation's answer carries: one pass through the network for both (a second model only when the embedder
    # is another network). A shop's import is bound by the models' throughput (docs/benchmarks.md, "A shop's import").
    shop_model = await services.shop_models.current(db, job["account"])
    submitted = Submitted(origin, data=data, title=store_name(product))  # the shop's model reads its name too
    [annotated] = await annotate(db, services.images, services.models, job["account"], [submitted], max_bytes,
                                 lambda document, answer: (document, answer),
                                 lambda answer: decide(answer, policy).describe(), shop_model=shop_model)
    if isinstance(annotated, DomainError):
        raise annotated
    annotation, answer = annotated
    if written is not None:  # annotated before, for other photos: the older annotation is no one's work any more
        await annotations.leave_queue(db, job["account"], job["integration"], int(product["id"]),
                                      "annotated again for new photos", keep=annotation["_id"])
    if hidden:
        indexed = f"not in the shop's similar-item search while it is {hidden}" + (
            " (taken out)" if await remove_from_catalogue(services, job) else "")
    else:
        catalogue_id, left_out = await add_to_catalogue(services, job, catalogued, data, written,
                                                        made_by_annotation(answer, services.models))
        indexed = (f"catalogue product {catalogue_id} in the shop's similar-item search" if catalogue_id else
                   "its catalogue entry was deleted while its photos were replaced") + (
            f"; left out: {'; '.join(left_out)}" if left_out else "")
    decided = annotation["policy"]
    await step("annotated", f"annotation {annotation['_id']}: {decided['state']}, category {decided['category']}; "
                            f"tags {', '.join(decided['tags']) or 'none'}")
    await step("indexed", indexed, fence=True)  # the last check that the job is still ours before writing to the store
    if decided["state"] == "held":
        await integrations.record_write(db, job["integration"], int(product["id"]),
                                        {"images": images_fingerprint(product), "annotation": annotation["_id"]}, "held")
        return f"held for review: the category is not sure enough for {policy.target} precision"
    decision = Decision(decided["category"], tuple(decided["tags"]), decided["level"],
                        f"{annotation['model']['name']}:{annotation['model']['version']}")
    if decided["level"] == "shop":  # the shop's own terms: its existing ones, by id, never a new one
        decision = Decision(decided["category"], tuple(decided["tags"]), "shop",
                            f"shop-model:{annotation['shop']['version']}")
    changes = await write_back(services, job["integration"], store, product, decision, written)
    await step("written back", f"{len(changes['categories'])} categories, {len(changes['tags'])} tags")
    return f"category {decision.category}; tags: {', '.join(decision.tags) or 'none'}"


async def write_back(services: Services, integration_id: str, store: WooClient, product: dict, decision: Decision,
                     written: dict | None) -> dict:
    """PUT the decision's category and tags merged with the merchant's own (what the service added last time is
    replaced), with the marker; the write recorded in the service's own database before and after. Nothing is written
    (not even a term made) to a store the shop disconnected while the job ran: a job reads its integration once, at
    its start, and a slow store read can take seconds."""
    if await integrations.by_id(services.db, integration_id) is None:
        raise DomainError("the store was disconnected while this job ran: nothing was written to it",
                          "integration_gone")
    previous = marker(product, integration_id) or written or {}  # what the service added last time, to replace
    categories = merge_terms(product.get("categories", []), [decision.category] if decision.category else [],
                             previous.get("added_categories", []), drop_placeholder=True)
    tags = merge_terms(product.get("tags", []), list(decision.tags), previous.get("added_tags", []))
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    value = marker_value(product, integration_id, decision, categories, tags, at)
    meta = [{"key": MARKER_KEY, "value": value}]
    await integrations.record_write(services.db, integration_id, int(product["id"]), value, "writing")
    changes, looked_up = await _changes(store, categories, tags, meta, decision.level == "shop")
    try:
        dropped = _dropped(looked_up, await store.update_product(product["id"], changes))
    except StoreError as error:
        if error.status != 400:
            raise
        dropped = True
    if dropped:  # a remembered term was deleted in the store meanwhile: every name looked up again, written again
        store.forget_terms()
        changes, looked_up = await _changes(store, categories, tags, meta, decision.level == "shop")
        dropped = _dropped(looked_up, await store.update_product(product["id"], changes))
    await integrations.record_write(services.db, integration_id, int(product["id"]), value, "written")
    if dropped:  # written, and recorded so (its own product.updated must not start it again), but not kept
        raise DomainError("the store answered the write but did not keep every category and tag it was given, twice "
                          "(the ids looked up afresh): a plugin or a filter on product terms in the store drops them; "
                          "the product was not changed beyond that, and is written again when its photos change",
                          "store_dropped_terms")
    return changes


async def write_correction(services: Services, job: dict, integration: dict, store: WooClient, step: Step) -> str:
    """A person's review of an integration's annotation, written to its store product (the merchant's terms kept)."""
    db = services.db
    annotation = await annotations.get(db, job["account"], job["annotation"])
    if annotation is None or annotation.get("review") is None:
        return "the annotation or its review is gone"
    product = await store.get_product(job["product_id"])
    if product is None:
        return "the product no longer exists in the store"
    if annotation["source"].get("images") not in (None, images_fingerprint(product)):
        # Reviewed from a page opened before the product's photos changed: the review is kept (the training export
        # pairs it with the photo it was made for), but the store's terms are for the new photos' annotation.
        return ("not written: the product's photos changed since this annotation was made; the review is kept for "
                "training, and the new photos' annotation is the one to review")
    decision = from_review(annotation["review"], policy_of(integration))
    written = await integrations.our_write(db, job["integration"], int(product["id"]))
    if decision.level == "review" and _shop_level(marker(product, job["integration"]) or written):
        return ("not written: the product carries the shop's own terms, and the review gave none of them (a review's "
                "`shop` terms are written in their place)")
    changes = await write_back(services, job["integration"], store, product, decision, written)
    await step("written back", f"{len(changes['categories'])} categories, {len(changes['tags'])} tags (a review)")
    return f"corrected: category {decision.category}; tags: {', '.join(decision.tags) or 'none'}"


def _shop_level(previous: dict | None) -> bool:
    """True when the service's last write to the product was in the shop's own terms (its model's, or a review's)."""
    previous = previous or {}
    return previous.get("level") == "shop" or str(previous.get("model", "")).startswith("shop-model:")


async def follow_merchant_terms(services: Services, job: dict, product: dict, written: dict | None) -> bool:
    """Bring the store product's catalogue entry's terms in step with the merchant's (a correction in the store);
    True when they changed, and then the shop's model is queued to retrain on them."""
    existing = await integrations.catalogue_product(services.db, job["account"], job["integration"], int(product["id"]))
    moved = terms_moved(existing, product, job["integration"], written)
    if moved is None:
        return False
    categories, tags = moved
    await products.update(services.db, job["account"], existing["_id"], {"categories": categories, "tags": tags})
    services.catalogues.forget_product(job["account"], existing["_id"])
    await queue_training(services.db, job["account"], f"the merchant changed the terms of store product {product['id']}")
    return True


async def remove_from_catalogue(services: Services, job: dict) -> bool:
    """The store product's catalogue entry deleted, with its photos and its place in the similar-item index; False
    when it had none. The shop's model forgets it at its next training."""
    async with entry_lock(services, job["integration"], job["product_id"]):
        entry = await integrations.catalogue_product(services.db, job["account"], job["integration"],
                                                     int(job["product_id"]))
        if entry is None:
            return False
        deleted = await catalogue.delete_product(services.db, services.images, services.catalogues, job["account"],
                                                 entry["_id"])
    await retrain_if_taught(services.db, job["account"], deleted)
    return deleted is not None


async def add_to_catalogue(services: Services, job: dict, product: dict, data: bytes,
                           written: dict | None = None, made: Made | None = None) -> tuple[str | None, list[str]]:
    """(the id of the catalogue product made from the store product (created, or its images replaced; None when deleted
    meanwhile), the photos left out and why): all its photos, the main one first, as the import makes it, through
    the API's own catalogue code (the database, then the shop's change sequence, which the API's replicas follow to
    update their indexes; the worker builds none). `data`: the main photo, fetched already; `made`: its embedding,
    already made (else the embedder is asked). A further photo that cannot be fetched or read is left out of the
    entry; the job goes on."""
    account_id = job["account"]
    try:
        if product.get("images"):
            photos, left_out = await store_photos(services, product, first=data, strict=False)
        else:  # a product read without its images list: the photo the job was given
            photos, left_out = [await check(data, None, services.settings.max_upload_bytes)], []
        if made is not None and len(photos) > 1:
            rest, embedder = await embed(services.models, photos[1:])
            made = (list(made[0]) + list(rest), embedder) if embedder == made[1] else None
        fields = store_fields(job["integration"], product, written)
        if left_out:  # not all its photos: an import on show fetches them again
            fields["store_images"] = None
        async with entry_lock(services, job["integration"], product["id"]):
            stored = await store_entry(services, account_id, job["integration"], int(product["id"]), fields, photos,
                                       made)
        return (stored or {}).get("_id"), left_out
    except DomainError as error:
        raise error.about("the photo could not enter the similar-item catalogue") from None


async def _changes(store: WooClient, categories: Merge, tags: Merge, meta: list[dict],
                   existing_only: bool) -> tuple[dict, dict[str, set[int]]]:
    """The PUT's body, and the ids of the terms it names that were looked up by name (`_term_refs`), by kind."""
    changes, looked_up = {"meta_data": meta}, {}
    for kind, merge in (("categories", categories), ("tags", tags)):
        changes[kind], looked_up[kind] = await _term_refs(store, kind, merge, existing_only)
    return changes, looked_up


async def _term_refs(store: WooClient, kind: str, merge: Merge,
                     existing_only: bool = False) -> tuple[list[dict], set[int]]:
    # WooCommerce assigns terms by id only, so every name is found (or, for the generic taxonomy, created) first.
    # The shop's own terms are its existing ones: one the merchant deleted meanwhile is left out, never re-created.
    found = [await (store.existing_term_id if existing_only else store.term_id)(kind, name) for name in merge.add_names]
    found_ids = [term_id for term_id in found if term_id is not None]
    return [{"id": term_id} for term_id in dict.fromkeys(list(merge.keep_ids) + found_ids)], set(found_ids)


def _dropped(looked_up: dict[str, set[int]], answer: dict) -> bool:
    """True when the store's answer to the PUT lacks a term it was given by an id the client looked up: WordPress
    skips an id that is no term (any more) without a word (`wp_set_object_terms`), so the answer is the only sign
    that a remembered id was deleted in the store. An answer without a kind's list says nothing of it."""
    for kind, ids in looked_up.items():
        given = answer.get(kind)
        if isinstance(given, list) and ids - {product_id(term.get("id")) for term in given if isinstance(term, dict)}:
            return True
    return False
