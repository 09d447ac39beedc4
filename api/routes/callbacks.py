"""Callback URLs: a shop registers where annotation results are POSTed, and reads the delivery log."""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Query, Response

from api.domain.callbacks import forget_targets
from api.core.errors import ApiError, not_found
from api.data import callbacks, jobs
from api.deps import CurrentAccount, Db, Id, Offset, Svc, checked_url
from api.documented_errors import CHECKED_URL_ERRORS, JSON_BODY_ERRORS, error_responses, not_found_error
from api.callback_schemas import CallbackCreated, CallbackIn, CallbackOut, DeliveryOut
from api.schemas import Page

router = APIRouter(prefix="/callbacks", tags=["callbacks"])


def _delivery_out(doc: dict) -> DeliveryOut:
    return DeliveryOut(id=doc["_id"], **{k: doc[k] for k in DeliveryOut.model_fields if k != "id"})


def _out(doc: dict) -> CallbackOut:
    return CallbackOut(id=doc["_id"], url=doc["url"], events=doc["events"], created=doc["created"])


@router.post("", status_code=201, response_model=CallbackCreated,
             responses=error_responses(*CHECKED_URL_ERRORS, *JSON_BODY_ERRORS))
async def register(body: CallbackIn, account: CurrentAccount, services: Svc) -> CallbackCreated:
    """Register a URL. Verify each POST: `X-Kalas-Signature: t=<unix>,v1=<hex>` is HMAC-SHA256 of `"<t>." + body`
    under the `secret` returned here (shown once)."""
    await checked_url(services, body.url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    stored = await callbacks.create(services.db, account.id, body.url, list(body.events), services.vault.seal(secret))
    forget_targets(services, account.id)
    return CallbackCreated(**_out(stored).model_dump(), secret=secret)


@router.get("", response_model=Page[CallbackOut])
async def list_callbacks(account: CurrentAccount, db: Db, offset: Offset = 0,
                         limit: int = Query(50, ge=1, le=200)) -> Page[CallbackOut]:
    found, total = await callbacks.list_for(db, account.id, offset, limit)
    return Page[CallbackOut](items=[_out(c) for c in found], total=total, offset=offset, limit=limit)


@router.get("/{callback_id}", response_model=CallbackOut, responses=error_responses(not_found_error("callback")))
async def get_callback(callback_id: Id, account: CurrentAccount, db: Db) -> CallbackOut:
    found = await callbacks.get(db, account.id, callback_id)
    if found is None:
        raise not_found("callback", callback_id)
    return _out(found)


@router.get("/{callback_id}/deliveries", response_model=Page[DeliveryOut],
            responses=error_responses(not_found_error("callback")))
async def list_deliveries(callback_id: Id, account: CurrentAccount, db: Db, offset: Offset = 0,
                          limit: int = Query(50, ge=1, le=200)) -> Page[DeliveryOut]:
    if await callbacks.get(db, account.id, callback_id) is None:
        raise not_found("callback", callback_id)
    found, total = await callbacks.deliveries(db, account.id, callback_id, offset, limit)
    items = [_delivery_out(d) for d in found]
    return Page[DeliveryOut](items=items, total=total, offset=offset, limit=limit)


@router.post("/{callback_id}/deliveries/{delivery_id}/retry", response_model=DeliveryOut, responses=error_responses(
    not_found_error("delivery"), (409, "conflict", "delivery 6650c3f2a1b4c5d6e7f80912 has no job to retry; register "
                                                "the callback again")))
async def retry_delivery(callback_id: Id, delivery_id: Id, account: CurrentAccount, db: Db) -> DeliveryOut:
    """Send a failed delivery again: its job goes back in the queue now, its attempts reset."""
    delivery = await callbacks.get_delivery(db, delivery_id)
    if delivery is None or delivery["account"] != account.id or delivery["callback_id"] != callback_id:
        raise not_found("delivery", delivery_id)
    if delivery["status"] == "failed":
        job = await jobs.for_work(db, account.id, f"callback:{delivery_id}")
        if job is None or await jobs.retry(db, account.id, job["_id"]) is None:
            raise ApiError(409, f"delivery {delivery_id} has no job to retry; register the callback again")
        await callbacks.settle_delivery(db, delivery_id, "pending", "retried by the shop")
        delivery = await callbacks.get_delivery(db, delivery_id)
    return _delivery_out(delivery)


@router.delete("/{callback_id}", status_code=204, responses=error_responses(not_found_error("callback")))
async def delete_callback(callback_id: Id, account: CurrentAccount, services: Svc) -> Response:
    if not await callbacks.delete(services.db, account.id, callback_id):
        raise not_found("callback", callback_id)
    forget_targets(services, account.id)
    return Response(status_code=204)
