"""WooCommerce integrations of a shop: register a store, see each delivery's fate, retry a job, sync the store.

Secrets are sealed before they are stored and shown back only masked. The response carries the delivery URL the
merchant pastes into WooCommerce's webhook form.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Iterable

from fastapi import APIRouter, Query, Request

from api.core.errors import ApiError, not_found
from api.documented_errors import (
    ALREADY_CONNECTED, CHECKED_URL_ERRORS, JSON_BODY_ERRORS, NOT_RETRIED, STORE_ERRORS, error_responses,
    not_found_error,
)
from api.data import annotations, integrations, jobs, reviews
from api.deps import CurrentAccount, Db, Id, Offset, Svc, checked_url, services_of
from api.integrations.hooks import disconnect, ensure_webhooks, remove_webhooks
from api.integrations.languages import listed_language
from api.integrations.policy import TaggingPolicy, policy_of, served_policy, unwritten
from api.integrations.store import moved_home, store_client, store_names
from api.integrations.store_errors import StoreError, StoreMoved
from api.integrations.woo_client import API_PATH, API_ROUTE, StorePage, WooClient
from api.integrations.schemas import (DeliveryOut, IntegrationChange, IntegrationIn, IntegrationOut, JobOut,
                                      PolicyOption, PolicyOut, StepOut, SyncOut)
from api.integrations.vault import mask
from api.schemas import Page
from api.services import Services

log = logging.getLogger(__name__)

CONNECT_ERRORS = (ALREADY_CONNECTED, *STORE_ERRORS, *CHECKED_URL_ERRORS, *JSON_BODY_ERRORS)
router = APIRouter(prefix="/integrations", tags=["integrations"])
WEBHOOK_PATH = "/api/v1/webhooks/woocommerce/{id}"
# A connect or a change of keys answers within this, however slow the store: a person waits in the console, and a
# proxy in front of the service cuts a request off (nginx after 60 s by default). The key check must end in it;
# the webhooks left unmade then are made by the next sync.
CONNECT_S = 25.0


def _delivery_url(request: Request, integration_id: str) -> str:
    return str(request.base_url).rstrip("/") + WEBHOOK_PATH.format(id=integration_id)


def _out(request: Request, doc: dict, counts: dict[str, int]) -> IntegrationOut:
    vault = services_of(request).vault
    return IntegrationOut(
        id=doc["_id"], kind=doc["kind"], store_url=doc["store_url"], created=doc["created"],
        reconnected=doc.get("reconnected"),
        consumer_key=mask(vault.open(doc["consumer_key"])), consumer_secret=mask(vault.open(doc["consumer_secret"])),
        webhook_secret=mask(vault.open(doc["webhook_secret"])), delivery_url=_delivery_url(request, doc["_id"]),
        last_ping=(doc.get("last_ping") or {}).get("at"), last_sync=doc.get("last_sync"), jobs=counts,
        catalogue_import=doc.get("import"), store_language=doc.get("store_language"),
        webhooks=doc.get("webhooks"))


def job_out(job: dict, steps: list[dict] = ()) -> JobOut:
    return JobOut(id=job["_id"], kind=job.get("kind", "product"), product_id=job["product_id"], state=job["state"],
                  reason=job["reason"], attempts=job["attempts"], run_after=job["run_after"],
                  last_error=job["last_error"], outcome=job["outcome"], created=job["created"], updated=job["updated"],
                  steps=[StepOut(**{k: s[k] for k in StepOut.model_fields}) for s in steps])


async def _owned(db: Db, account: CurrentAccount, integration_id: str) -> dict:
    found = await integrations.get(db, account.id, integration_id)
    if found is None:
        raise not_found("integration", integration_id)
    return found


@router.post("", status_code=201, response_model=IntegrationOut, responses=error_responses(*CONNECT_ERRORS))
async def register(body: IntegrationIn, request: Request, account: CurrentAccount, services: Svc) -> IntegrationOut:
    """Register a WooCommerce store. Its keys are tried first with one product read: a store that refuses them, or
    has no WooCommerce REST API at that address, is answered 422 `store_refused`, one that cannot be reached (or
    fails) 422 `store_unreachable`, and nothing is kept. A site that moved (to HTTPS, to www) and redirects its REST
    API is connected at the address it moved to, which the answer's `store_url` shows. The service then creates its
    webhooks in the store (Product created, updated, deleted and restored, to the returned `delivery_url` with the
    webhook secret); when the store's key may not (a Read-only key), `webhooks.error` says so and the merchant
    creates them by hand with the same URL and secret. A store the shop has connected already is answered 409
    `already_connected` with that integration's id (two would annotate and write every product twice). The answer
    comes within 25 s however slow the store: a key check not answered by then is a 422 `store_unreachable`, and
    webhooks not made by then are made by the next sync (`webhooks.error` says so)."""
    await _not_connected_yet(services.db, account, body.store_url)
    await checked_url(services, body.store_url, "store_url")  # the worker calls it with the store's keys
    vault = services.vault
    store = store_client(services.http, body.store_url, body.consumer_key, body.consumer_secret,
                         timeout=CONNECT_S)
    until = asyncio.get_running_loop().time() + CONNECT_S
    try:
        store, listed = await _keys_checked_where_it_is(services, account, store, body.consumer_key,
                                                        body.consumer_secret, "the store was not connected", until)
        names = store_names(body.store_url, store.store_url, listed.api_root)
        await _not_connected_yet(services.db, account, store.store_url, names=names)  # under another of its names
        stored = await integrations.create(services.db, account.id, {
            "store_url": store.store_url, "store_names": names, "consumer_key": vault.seal(body.consumer_key),
            "consumer_secret": vault.seal(body.consumer_secret), "webhook_secret": vault.seal(body.webhook_secret),
            "store_language": await _language(store, listed, until)})
        if stored is None:  # connected by another request while this one checked the keys: nothing made in the store
            raise await _connected_meanwhile(services.db, account, store.store_url)
        delivery_url = _delivery_url(request, stored["_id"])
        hooks = await ensure_webhooks(store, delivery_url, body.webhook_secret, until=until)
    finally:
        await store.aclose()
    stored |= {"delivery_url": delivery_url, "webhooks": hooks}
    await integrations.set_webhooks(services.db, stored["_id"], delivery_url, hooks)
    if stored.get("reconnected"):
        await _corrections_kept(services.db, account, stored)
    # The store's existing catalogue comes in as a job: its products, photos and the merchant's own terms.
    await jobs.enqueue_kind(services.db, "import", account.id, f"import:{stored['_id']}",
                            "the store was connected again: its catalogue entries are brought up to date"
                            if stored.get("reconnected") else "the store was connected: its catalogue is imported",
                            {"integration": stored["_id"]})
    return _out(request, stored, {})


@router.get("", response_model=Page[IntegrationOut])
async def list_integrations(request: Request, account: CurrentAccount, db: Db, offset: Offset = 0,
                            limit: int = Query(50, ge=1, le=200)) -> Page[IntegrationOut]:
    found, total = await integrations.list_for(db, account.id, offset, limit)
    items = [_out(request, doc, await jobs.counts(db, doc["_id"])) for doc in found]
    return Page[IntegrationOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/{integration_id}", response_model=IntegrationOut, responses=error_responses(not_found_error("integration")))
async def get_integration(integration_id: Id, request: Request, account: CurrentAccount, db: Db) -> IntegrationOut:
    doc = await _owned(db, account, integration_id)
    return _out(request, doc, await jobs.counts(db, integration_id))


@router.patch("/{integration_id}", response_model=IntegrationOut,
              responses=error_responses(not_found_error("integration"), *CONNECT_ERRORS))
async def change_integration(integration_id: Id, body: IntegrationChange, request: Request, account: CurrentAccount,
                             services: Svc) -> IntegrationOut:
    """Rotate the store's REST API key or the webhook secret, or follow the store to a new URL, keeping the
    integration: its delivery URL, policy, history, records of writes and catalogue entries. New keys are tried on
    the store first and refused (422) when the store refuses them, the old ones kept; a new webhook secret is kept
    first, then given to the service's webhooks in the store: deliveries signed with the old one are still taken
    for SECRET_OVERLAP_S (those on their way, and those the store sends before it has the new one), and a sync is
    queued for any that came in between."""
    doc = await _owned(services.db, account, integration_id)
    vault = services.vault
    if body.store_url is not None:
        await _not_connected_yet(services.db, account, body.store_url, integration_id)
        await checked_url(services, body.store_url, "store_url")
    store_url = body.store_url if body.store_url is not None else doc["store_url"]
    key = body.consumer_key or vault.open(doc["consumer_key"])
    secret = body.consumer_secret or vault.open(doc["consumer_secret"])
    webhook_secret = body.webhook_secret or vault.open(doc["webhook_secret"])
    delivery_url = _delivery_url(request, doc["_id"])
    store = store_client(services.http, store_url, key, secret, timeout=CONNECT_S)
    changed = {}
    until = asyncio.get_running_loop().time() + CONNECT_S
    rotating = body.webhook_secret is not None and body.webhook_secret != vault.open(doc["webhook_secret"])
    try:
        if body.store_url is not None or body.consumer_key is not None:
            store, listed = await _keys_checked_where_it_is(services, account, store, key, secret,
                                                            "nothing was changed", until, integration_id)
            changed["store_names"] = store_names(store_url, store.store_url, listed.api_root)
            await _not_connected_yet(services.db, account, store.store_url, integration_id, changed["store_names"])
            changed["store_language"] = await _language(store, listed, until)  # None: a later job reads it again
        if rotating:  # kept before the store has it: a delivery it signs with the new one meanwhile is taken
            await integrations.rotate_webhook_secret(services.db, integration_id, vault.seal(webhook_secret),
                                                     doc["webhook_secret"])
        try:
            hooks = await ensure_webhooks(store, delivery_url, webhook_secret,
                                          new_secret=body.webhook_secret is not None, until=until)
        except BaseException:
            if rotating:  # the store kept the old one: so does the service
                await integrations.rotate_webhook_secret(services.db, integration_id, doc["webhook_secret"], None)
            raise
        store_url = store.store_url  # where the store answered: the address given, or the one it moved to
        changed |= {"store_url": store_url, "consumer_key": vault.seal(key), "consumer_secret": vault.seal(secret),
                    "webhook_secret": vault.seal(webhook_secret)}
        if not await integrations.change(services.db, account.id, integration_id, changed):
            await _take_back_webhooks(store, delivery_url)
            raise await _connected_meanwhile(services.db, account, store_url)
    finally:
        await store.aclose()
    await integrations.set_webhooks(services.db, integration_id, delivery_url, hooks)
    if rotating:  # what a delivery refused before the secret was kept carried: found by a sync
        await jobs.enqueue(services.db, account.id, integration_id, None, "the webhook secret was changed")
    doc |= changed | {"delivery_url": delivery_url, "webhooks": hooks}
    return _out(request, doc, await jobs.counts(services.db, integration_id))


async def _not_connected_yet(db: Db, account: CurrentAccount, store_url: str, this: str | None = None,
                             names: Iterable[str] = ()) -> None:
    """409 when another of the shop's integrations is connected to the store at `store_url`, or known by another of
    its `names` (a site that answers at its bare domain and at www)."""
    found = await integrations.for_store(db, account.id, store_url, *names)
    if found is not None and found["_id"] != this:
        raise _already_connected(found["store_url"], found["_id"])


async def _corrections_kept(db: Db, account: CurrentAccount, integration: dict) -> None:
    """A store connected again gets the reviews of its products made while it was disconnected, which could not
    be written to it then (their jobs said so)."""
    for annotation_id in await reviews.annotations_reviewed_since(db, account.id, integration["reconnected"]):
        annotation = await annotations.get(db, account.id, annotation_id)
        if annotation is not None and (annotation.get("source") or {}).get("integration") == integration["_id"]:
            await jobs.enqueue_correction(db, account.id, annotation, "reviewed while the store was disconnected")


async def _connected_meanwhile(db: Db, account: CurrentAccount, store_url: str) -> ApiError:
    """The 409 for a store another request connected while this one talked to it (the shop's stores are unique)."""
    found = await integrations.for_store(db, account.id, store_url)
    return _already_connected(store_url, found["_id"] if found else None)


async def _take_back_webhooks(store: WooClient, delivery_url: str) -> None:
    """The webhooks just made in a store that another request connected meanwhile, deleted: they would deliver that
    store's products to an integration that reads another store. Best effort: a store failing now is logged."""
    try:
        await remove_webhooks(store, delivery_url)
    except StoreError as error:
        log.warning("webhooks made in %s for %s could not be deleted: %s", store.store_url, delivery_url, error)


def _already_connected(store_url: str, integration_id: str | None) -> ApiError:
    which = f" (integration {integration_id})" if integration_id else ""
    return ApiError(409, f"the store at {store_url} is connected already{which}: change its keys or webhook secret "
                         f"there, or disconnect it first", "already_connected")


async def _keys_checked_where_it_is(services: Services, account: CurrentAccount, store: WooClient, key: str,
                                    secret: str, so: str, until: float,
                                    this: str | None = None) -> tuple[WooClient, StorePage]:
    """(the client, the store's answer to one product read): `_check_keys` at the address given, or, when the site
    redirects its REST API (moved to HTTPS, or from its bare domain to www), once at the address it moved to, which
    the integration then keeps (a signed request is not sent on to another address). `store` is closed when another
    client takes its place, and left to the caller otherwise."""
    try:
        return store, await _check_keys(store, so, until)
    except StoreMoved as moved:
        home = moved_home(moved.location)
        if home is None or home == store.store_url:  # elsewhere than a REST API, or back to itself
            raise ApiError(422, f"the store at {store.store_url} redirects its REST API to "
                                f"{moved.location or 'no address'}, so {so}: give the address the store answers at",
                           "store_refused") from None
    await checked_url(services, home, "store_url")  # the address it moved to is checked as a given one is
    await _not_connected_yet(services.db, account, home, this)
    moved_to = store_client(services.http, home, key, secret, timeout=CONNECT_S)
    try:
        listed = await _check_keys(moved_to, so, until)
    except StoreMoved as again:
        await moved_to.aclose()
        raise ApiError(422, f"the store moved to {home}, which redirects again (to {again.location or 'no address'}), "
                            f"so {so}: give the address the store answers at", "store_refused") from None
    except BaseException:
        await moved_to.aclose()
        raise
    await store.aclose()
    return moved_to, listed


async def _check_keys(store: WooClient, so: str, until: float) -> StorePage:
    """The store's answer to one product read with these keys, by the event loop's time `until`; an ApiError that
    says what it answered, and `so`: what the request therefore did not do."""
    try:
        async with asyncio.timeout_at(until):
            return await store.products_page(1, 1, named=False)  # one request: a slow store's 25 s go to the keys
    except TimeoutError:
        raise ApiError(422, f"the store at {store.store_url} did not answer a product read within {CONNECT_S:g} s, so "
                            f"{so}: try again when it answers sooner", "store_unreachable") from None
    except StoreMoved:
        raise  # followed once by `_keys_checked_where_it_is`
    except StoreError as error:
        if error.status in (401, 403) and not error.data:  # not WordPress's REST error: something in front of it
            raise ApiError(422, f"something in front of the store at {store.store_url} (a firewall, a CDN's "
                                f"bot protection or a security plugin) answered {error.status} instead of "
                                f"WooCommerce, so {so}: let the service's requests to {API_PATH}/ through "
                                f"({error.message})", "store_refused") from None
        if error.status in (401, 403):
            raise ApiError(422, f"the store at {store.store_url} refused a product read with these keys, so {so}: "
                                f"{error.message}", "store_refused") from None
        if error.status == 404 or error.status is not None and error.status < 300:
            raise ApiError(422, f"no WooCommerce REST API answered at {store.store_url}{API_PATH} (nor at "
                                f"{store.store_url}/index.php?rest_route={API_ROUTE}/…), so {so}: give the store's home "
                                f"page as its URL, with WooCommerce active ({error.message})", "store_refused") from None
        raise ApiError(422, f"the store at {store.store_url} could not be asked, so {so}: {error.message}; check the "
                            f"address, or try again when the store is up", "store_unreachable") from None


async def _language(store: WooClient, listed: StorePage, until: float) -> str | None:
    """The store's language (`listed_language`) when found by the event loop's time `until`; else None, and a later
    job finds it."""
    try:
        async with asyncio.timeout_at(until):
            return await listed_language(store, listed.items)
    except TimeoutError:
        return None


@router.delete("/{integration_id}", status_code=204, responses=error_responses(not_found_error("integration")))
async def delete_integration(integration_id: Id, account: CurrentAccount, services: Svc) -> None:
    """Forget the store and its keys, deleting the service's webhooks in the store first (a webhook that could not
    be deleted is answered 404 from now on, and WooCommerce disables it)."""
    await disconnect(services.http, services.vault, await _owned(services.db, account, integration_id))
    if not await integrations.delete(services.db, account.id, integration_id):
        raise not_found("integration", integration_id)


@router.get("/{integration_id}/policy", response_model=PolicyOut, responses=error_responses(not_found_error("integration")))
async def get_policy(integration_id: Id, account: CurrentAccount, services: Svc) -> PolicyOut:
    """The store's tagging policy, and for each target precision what it bought on held-out photos."""
    doc = await _owned(services.db, account, integration_id)
    table = await served_policy(services.models)
    options = [PolicyOption(target=target, held_out=table[target].get("held_out", {})) for target in sorted(table)]
    return PolicyOut(policy=policy_of(doc), options=options)


@router.put("/{integration_id}/policy", response_model=PolicyOut, responses=error_responses(
    not_found_error("integration"), *JSON_BODY_ERRORS,
    (422, "unknown_label", "the service writes no term 'Man': did you mean 'Men'?")))
async def set_policy(integration_id: Id, body: TaggingPolicy, account: CurrentAccount, services: Svc) -> PolicyOut:
    """Set the store's tagging policy; it applies to the products annotated from now on. A rename's term is one the
    service writes (a category, an attribute value, a colour, by its name in any case; 422 `unknown_label` naming
    each other one)."""
    await _owned(services.db, account, integration_id)
    if problems := unwritten(body.rename):  # spelt as the service writes its terms already (TaggingPolicy)
        raise ApiError(422, "; ".join(problems), "unknown_label")
    await integrations.set_policy(services.db, account.id, integration_id, body.model_dump())
    return await get_policy(integration_id, account, services)


@router.get("/{integration_id}/deliveries", response_model=Page[DeliveryOut], responses=error_responses(not_found_error("integration")))
async def list_deliveries(integration_id: Id, account: CurrentAccount, db: Db, offset: Offset = 0,
                          limit: int = Query(50, ge=1, le=200)) -> Page[DeliveryOut]:
    """Webhook deliveries received, newest first, each with the job it started or joined and that job's steps."""
    await _owned(db, account, integration_id)
    found, total = await integrations.deliveries(db, integration_id, offset, limit)
    job_ids = list({d["job"] for d in found if d.get("job")})
    by_id = {j["_id"]: j for j in [await jobs.get(db, account.id, job_id) for job_id in job_ids] if j}
    steps = await jobs.steps(db, list(by_id))
    items = [DeliveryOut(id=d["_id"], delivery_id=d["delivery_id"], topic=d["topic"], product_id=d.get("product_id"),
                         received=d["received"], outcome=d["outcome"],
                         job=job_out(by_id[d["job"]], steps[d["job"]]) if d.get("job") in by_id else None)
             for d in found]
    return Page[DeliveryOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/{integration_id}/jobs", response_model=Page[JobOut], responses=error_responses(not_found_error("integration")))
async def list_jobs(integration_id: Id, account: CurrentAccount, db: Db,
                    state: Annotated[str | None, Query(pattern="^(queued|running|done|dead|superseded)$")] = None,
                    offset: Offset = 0, limit: int = Query(50, ge=1, le=200)) -> Page[JobOut]:
    await _owned(db, account, integration_id)
    found, total = await jobs.list_for(db, account.id, integration_id, offset, limit, state)
    steps = await jobs.steps(db, [j["_id"] for j in found])
    return Page[JobOut](items=[job_out(j, steps[j["_id"]]) for j in found], total=total, offset=offset, limit=limit)


@router.post("/{integration_id}/jobs/{job_id}/retry", response_model=JobOut,
             responses=error_responses(not_found_error("integration"), not_found_error("job"), NOT_RETRIED))
async def retry_job(integration_id: Id, job_id: Id, account: CurrentAccount, db: Db) -> JobOut:
    """Put a dead (or finished) job back in the queue now, its attempts reset (a stopped catalogue import runs again
    from the page it had reached)."""
    await _owned(db, account, integration_id)
    job = await jobs.get(db, account.id, job_id)
    if job is None or job["integration"] != integration_id:
        raise not_found("job", job_id)
    retried = await jobs.retry(db, account.id, job_id)
    if retried is None:
        raise ApiError(409, f"job {job_id} changed while being retried; list the jobs and try again")
    if retried.get("kind") == "import":
        await integrations.import_resumed(db, integration_id)
    return job_out(retried, (await jobs.steps(db, [retried["_id"]]))[retried["_id"]])


@router.post("/{integration_id}/sync", status_code=202, response_model=SyncOut, responses=error_responses(not_found_error("integration")))
async def sync(integration_id: Id, account: CurrentAccount, db: Db) -> SyncOut:
    """Ask the worker to list the store's products changed since the last sync and annotate those not yet
    annotated: what WooCommerce dropped (it does not retry a failed delivery, and disables a webhook after
    5 failures in a row) is caught up this way."""
    await _owned(db, account, integration_id)
    job, _ = await jobs.enqueue(db, account.id, integration_id, None, "sync requested by the shop")
    return SyncOut(job=job_out(job))
