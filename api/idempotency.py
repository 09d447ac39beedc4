"""Creates that a retry cannot do twice: the `Idempotency-Key` request header (the IETF httpapi draft
"The Idempotency-Key HTTP Header Field"; Stripe's API works the same way).

An API client that sends a create again after a time-out or a dropped connection cannot tell whether the first one
was done; without a key, a product without a SKU, an annotation or a review would then be made twice. A POST of a
router built with `route_class=Idempotent` takes the header: the first request with a key is done and its answer
kept (2xx answers only) for 24 hours, per shop; the same request sent again with that key gets that answer again,
with `Idempotent-Replayed: true`, and nothing is done twice. The same key on another request (another route or
body) is 422 `idempotency_key_reused`; sent while the first is still being answered, 409 `idempotency_key_in_use`.
A request that fails keeps nothing: sent again, it is done again. Why not a library: docs/api.md, "Decisions".
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import logging
from typing import Annotated, Any, Callable, Coroutine, get_args, get_origin

import anyio
from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.core.errors import ApiError
from api.core.limits import json_value
from api.data import idempotency
from api.deps import Account, services_of
from api.documented_errors import IDEMPOTENCY_ERRORS, error_responses, with_errors

log = logging.getLogger(__name__)
HEADER = "Idempotency-Key"
MAX_KEY = 255
KEEP_S = 24 * 3600.0
# A key whose request is `running` and has not said it is alive for this long belongs to a process that died: taken
# over. The request holding it says so every fifth of it, however long it runs (an import of slow photos can take
# longer than the lease: taken over while it ran, its retry made every product again).
LEASE_S = 300.0
# Answers larger than this are not kept (a retry does the request again): no create here answers near it.
MAX_KEPT_BYTES = 1 << 20
KEPT_HEADERS = ("content-type", "location")
_HELP = ("any text of 1 to 255 printable ASCII characters that names this request, e.g. a UUID; send the same "
         "request again with the same key to get its answer without it being done twice (kept 24 hours)")


class Replayed(Exception):
    """The request was answered before: its kept answer is the answer."""

    def __init__(self, record: dict) -> None:
        super().__init__(record["key"])
        self.record = record

    def response(self) -> Response:
        headers = {**self.record["headers"], "Idempotent-Replayed": "true"}
        return Response(self.record["body"], self.record["status"], headers=headers)


def checked_key(value: str) -> str:
    """The key, refused with what was wrong unless it is 1 to 255 printable ASCII characters (a key written as an
    sf-string, in double quotes as the draft shows it, is read without them)."""
    key = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not 1 <= len(key) <= MAX_KEY:
        raise ApiError(400, f"the {HEADER} header must be 1 to {MAX_KEY} printable ASCII characters (a UUID, say); "
                            f"got {len(key)} characters", "invalid_idempotency_key")
    if not all(" " <= c <= "~" for c in key):
        wrong = next(c for c in key if not " " <= c <= "~")
        raise ApiError(400, f"the {HEADER} header must be printable ASCII characters (a UUID, say); it holds "
                            f"{wrong!r} (U+{ord(wrong):04X})", "invalid_idempotency_key")
    return key


async def fingerprint(request: Request) -> str:
    """What makes two requests the same request: the method, the path with its query, and the body as read (a JSON
    body by its content, whatever its spacing and key order; a form by its fields and each file's name, type and
    bytes, whatever boundary the client's library chose)."""
    parts: list[Any] = [request.method, request.url.path, request.url.query]
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in (await request.form()).multi_items():  # the form FastAPI parsed, kept by Starlette
            if isinstance(value, str):
                parts.append([name, value])
            else:  # read a MiB at a time: a batch's files are not held in memory twice
                digest = hashlib.sha256()
                while chunk := await value.read(1 << 20):
                    digest.update(chunk)
                await value.seek(0)
                parts.append([name, value.filename, value.content_type, digest.hexdigest()])
    else:
        body = await request.body()
        try:
            parts.append(json_value(body) if body else None)
        except ValueError:  # not JSON (or nested past the parser): the bytes themselves
            parts.append(hashlib.sha256(body).hexdigest())
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


async def _claim(request: Request, account: Account, sent_key: str) -> None:
    """Hold the key for this request, or answer with what it answered before (`Replayed`), or refuse."""
    key = checked_key(sent_key)
    services = services_of(request)
    sent = await fingerprint(request)
    keep_s = min(KEEP_S, services.settings.image_url_ttl_s)  # a kept answer's image links outlive it
    record, held = await idempotency.claim(services.db, account.id, key, sent, LEASE_S, keep_s)
    if held:
        request.state.idempotency = record["_id"]
    elif record["fingerprint"] != sent:
        raise ApiError(422, f"the {HEADER} {key!r} was used for another request (another route, query or body) in "
                            f"the last {keep_s / 3600:g} hours: a new request needs a new key", "idempotency_key_reused")
    elif record["state"] == "running":
        raise ApiError(409, f"a request with the {HEADER} {key!r} is still being answered; send it again in a "
                            "second to get its answer", "idempotency_key_in_use", headers={"Retry-After": "1"})
    else:
        raise Replayed(record)


def _claiming(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, holding the request's key first, once FastAPI has solved its parameters (the shop among them).
    Not a dependency: one costs FastAPI's resolver about 0.19 ms a request, header or not, walking the shop's
    dependencies again (scripts/bench_idempotency.py); this costs a header look-up."""
    if getattr(endpoint, "claims_idempotency_key", False):  # a router included in another makes its routes again
        return endpoint

    signature, typed = inspect.signature(endpoint), inspect.signature(endpoint, eval_str=True).parameters
    if not any(get_origin(p.annotation) is Annotated and get_args(p.annotation)[0] is Account for p in typed.values()):
        raise TypeError(f"{endpoint.__name__} cannot take an {HEADER}: a key is the shop's own, and it takes no "
                        "signed-in shop (CurrentAccount)")
    # FastAPI passes the request to one parameter only: the endpoint's own, if it takes it, else one added here.
    own = [name for name, parameter in typed.items() if parameter.annotation is Request]
    request_name = own[0] if own else _REQUEST

    @functools.wraps(endpoint)
    async def claimed(*args: Any, **kwargs: Any) -> Any:
        request = kwargs[request_name] if own else kwargs.pop(_REQUEST)
        sent_key = request.headers.get(HEADER)
        if sent_key is None:
            return await endpoint(*args, **kwargs)
        await _claim(request, next(value for value in kwargs.values() if isinstance(value, Account)), sent_key)
        record_id = getattr(request.state, "idempotency", None)
        alive = asyncio.create_task(_keep_alive(services_of(request).db, record_id)) if record_id else None
        try:
            return await endpoint(*args, **kwargs)
        finally:
            if alive is not None:
                alive.cancel()

    if not own:
        added = inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        claimed.__signature__ = signature.replace(parameters=[*signature.parameters.values(), added])
    claimed.claims_idempotency_key = True
    return claimed


_REQUEST = "idempotency_request"
_OPENAPI = {"parameters": [{"name": HEADER, "in": "header", "required": False, "description": _HELP,
                            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY}}]}


class Idempotent(APIRoute):
    """A route class: each POST route of a router built with it takes an `Idempotency-Key`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if "POST" in {method.upper() for method in options.get("methods") or ()}:
            endpoint = _claiming(endpoint)
            options["openapi_extra"] = {**(options.get("openapi_extra") or {}), **_OPENAPI}
            options["responses"] = with_errors(options.get("responses") or error_responses(), *IDEMPOTENCY_ERRORS)
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if "POST" not in self.methods:
            return handler

        async def answer_once(request: Request) -> Response:
            try:
                response = await handler(request)
            except Replayed as replayed:
                return replayed.response()
            except BaseException:
                await _let_go(request)
                raise
            try:
                await _keep(request, response)
            except Exception:  # the create is done: its answer goes out; a retry within the lease is told to wait
                log.exception("the answer to %s %s could not be kept for its %s", request.method, request.url.path,
                              HEADER)
            return response

        return answer_once


async def _keep_alive(db: Any, record_id: str) -> None:
    """Say every fifth of the lease that the held key's request is still being answered, until cancelled."""
    while True:
        await asyncio.sleep(LEASE_S / 5)
        try:
            await idempotency.renew(db, record_id)
        except Exception:  # the request goes on; a claim not renewed for a whole lease may be taken over
            log.exception("the %s claim %s could not be renewed", HEADER, record_id)


async def _keep(request: Request, response: Response) -> None:
    record_id = getattr(request.state, "idempotency", None)
    if record_id is None:
        return
    body = getattr(response, "body", None)  # a streamed answer has none, and is not kept
    if not (200 <= response.status_code < 300 and isinstance(body, bytes) and len(body) <= MAX_KEPT_BYTES):
        await _let_go(request)
        return
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    await idempotency.finish(services_of(request).db, record_id, response.status_code, body, headers)


async def _let_go(request: Request) -> None:
    record_id = getattr(request.state, "idempotency", None)
    if record_id is not None:
        with anyio.CancelScope(shield=True):  # also when the request was cancelled (the client went away)
            await idempotency.release(services_of(request).db, record_id)
