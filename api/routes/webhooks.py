"""The delivery URL of each WooCommerce integration: verify, de-duplicate, enqueue, answer — in milliseconds.

WooCommerce waits for the answer synchronously and counts anything but 2xx–302 as a failure (five in a row
disable the webhook), so this endpoint does no work beyond recording the job: the worker does the rest.
"""
from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Request

from api.core.limits import json_value
from api.core.errors import ApiError
from api.data import integrations, jobs
from api.deps import Id, Svc
from api.documented_errors import BODY_TOO_LARGE, WEBHOOK_ERRORS, error_responses
from api.integrations.hooks import NEWER_TOPICS, TOPICS
from api.integrations.signature import ping_id, verify
from api.integrations.sync import in_step, left_alone
from api.integrations.store_data import MAX_ID, named_by_path, product_id, store_product

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
PRODUCT_TOPICS = TOPICS + NEWER_TOPICS  # product.published: a draft or a scheduled product put on show


@router.post("/woocommerce/{integration_id}", responses=error_responses(*WEBHOOK_ERRORS, BODY_TOO_LARGE))
async def woocommerce_delivery(integration_id: Id, request: Request, services: Svc) -> dict:
    """A delivery from WooCommerce (`X-WC-Webhook-*` headers, body signed with the webhook secret), or the ping
    sent when the webhook is saved (form body `webhook_id=<id>`, unsigned)."""
    db = services.db
    body = await request.body()
    signature = request.headers.get("X-WC-Webhook-Signature")
    integration = await integrations.by_id(db, integration_id)
    if integration is None:
        raise ApiError(404, f"no integration {integration_id!r}: register the store first and use the delivery URL "
                            "it shows", code="integration_not_found")
    if (webhook_id := ping_id(body, signature)) is not None:
        # Unsigned: anyone who has the delivery URL can send one. Recorded when it names one of the webhooks the
        # service made in the store, or any while the service knows none (made by hand, or being made now).
        known = set(((integration.get("webhooks") or {}).get("ids") or {}).values())
        if not known or webhook_id in known:
            await integrations.record_ping(db, integration_id, webhook_id)
        return {"status": "pong"}
    secrets = [services.vault.open(sealed) for sealed in integrations.webhook_secrets(integration)]
    if not any(verify(body, secret, signature) for secret in secrets):
        raise ApiError(401, "X-WC-Webhook-Signature is missing or does not match the body: the webhook's Secret in "
                            "WooCommerce must equal the webhook secret registered here", code="bad_signature")

    topic = request.headers.get("X-WC-Webhook-Topic", "")
    delivery_id = request.headers.get("X-WC-Webhook-Delivery-ID", "")
    # WooCommerce's delivery id is hash(webhook id . current second): the body tells two deliveries apart.
    delivery_key = f"{delivery_id}:{hashlib.sha256(body).hexdigest()[:24]}"
    # Its categories named by their paths in the store's tree, as the worker last read it ("Herren > Hemden").
    product = named_by_path(_product(body, topic), integrations.category_paths(integration)) \
        if topic in PRODUCT_TOPICS else None
    record = {"delivery_id": delivery_id, "topic": topic, "product_id": product and int(product["id"]),
              "job": None, "outcome": "received"}
    # Recorded first, under a unique key: of two identical deliveries arriving at the same instant, one is.
    record_id = await integrations.record_delivery(db, integration_id, delivery_key, record)
    if record_id is None:
        return {"status": "duplicate"}
    if product is None:
        await integrations.update_delivery(db, record_id, {"outcome": "ignored topic"})
        return {"status": "ignored", "topic": topic}

    product_id = record["product_id"]
    # A variation, or a translation where the store's language is known (else the job finds it out).
    if (reason := left_alone(product, integration.get("store_language"))) is not None:
        await integrations.update_delivery(db, record_id, {"outcome": f"ignored: {reason}"})
        return {"status": "ignored", "product_id": product_id, "reason": reason}
    # A deleted product's delivery is its id alone (WooCommerce fires it when the product goes to the trash): the job
    # takes it out of the shop's catalogue. A restored one is a job too, whatever it holds: its annotation goes back
    # in the review queue (and it is a draft, which `in_step` finds in step).
    if topic not in ("product.deleted", "product.restored") and await in_step(db, integration, product):
        # Our own write-back (or a merchant's edit that left the photos and the product's own terms alone): nothing to
        # do, and no loop. A merchant's change of terms is a job: the shop's model learns the correction.
        await integrations.update_delivery(db, record_id, {"outcome": "already annotated"})
        return {"status": "already annotated", "product_id": product_id}
    job, created = await jobs.enqueue(db, integration["account"], integration_id, product_id,
                                      f"{topic} (delivery {delivery_id[:12]})")
    outcome = "queued" if created else "joined a waiting job"
    await integrations.update_delivery(db, record_id, {"outcome": outcome, "job": job["_id"]})
    return {"status": outcome, "job_id": job["_id"], "product_id": product_id}


def _product(body: bytes, topic: str) -> dict:
    try:
        product = json_value(body)
    except ValueError:
        product = None
    found = product.get("id") if isinstance(product, dict) else None
    if product_id(found) is None:
        raise ApiError(400, f"a {topic} delivery must be the product as a JSON object with its id, a whole number from "
                            f"1 to {MAX_ID}; this one's id is {json.dumps(found)[:40]}")
    return store_product(product, product_id(found))
