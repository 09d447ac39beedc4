"""Typed dependencies: a route's signature says what it needs (`account: CurrentAccount, db: Db`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Awaitable, Callable

from fastapi import Depends, Header, Request
from pymongo.asynchronous.database import AsyncDatabase

from api.catalogue import Catalogues
from api.core.errors import ApiError, not_found
from api.core.ratelimit import RateLimiter
from api.core.remembered import Remembered
from api.core.security import API_KEY_PREFIX, SESSION_PREFIX, token_hash
from api.core.settings import Settings
from api.data import accounts, keys, sessions
from api.data.images import ImageFiles


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def app_db(request: Request) -> AsyncDatabase:
    return request.app.state.db


def app_catalogues(request: Request) -> Catalogues:
    return request.app.state.catalogues


def app_image_files(request: Request) -> ImageFiles:
    return request.app.state.image_files


# Plain values from app state, but `async def`: FastAPI runs a `def` dependency in its thread pool, a thread
# hand-off per dependency per request for nothing. Each dependency also costs FastAPI's resolver CPU on every
# request (about 8 µs each on an annotate request after a pause, measured): the two upload routes the API is timed
# by (annotate, similar items) and `_authenticate`, which every route runs, take what they need from app state
# with `app_db`, `app_settings`, `app_catalogues` and `app_image_files` instead.
async def _settings(request: Request) -> Settings:
    return app_settings(request)


async def _db(request: Request) -> AsyncDatabase:
    return app_db(request)


async def _inference(request: Request) -> Any:
    client = request.app.state.inference
    if client is None:
        raise ApiError(503, "no model is configured on this server: set KALAS_INFERENCE_URL or KALAS_MODEL_STORE")
    return client


async def _catalogues(request: Request) -> Catalogues:
    return app_catalogues(request)


async def _image_files(request: Request) -> ImageFiles:
    return app_image_files(request)


Config = Annotated[Settings, Depends(_settings)]
Db = Annotated[AsyncDatabase, Depends(_db)]
Inference = Annotated[Any, Depends(_inference)]
Indexes = Annotated[Catalogues, Depends(_catalogues)]
Files = Annotated[ImageFiles, Depends(_image_files)]


@dataclass(frozen=True)
class Account:
    """The shop making the request, and the credential it used."""

    id: str
    email: str
    shop_name: str
    created: Any
    # "key:<prefix>" or "session": recorded as the reviewer of corrections and used as the rate-limit bucket.
    credential: str
    session_hash: str | None = None

    @property
    def reviewer(self) -> str:
        return self.email if self.credential == "session" else self.credential.removeprefix("key:")


_AUTH_HELP = "send an API key as `X-API-Key: ki_...` or a console session as `Authorization: Bearer kis_...`"


# Keys and accounts are read on every request and change rarely: each process remembers them a few seconds,
# sparing a database round trip per request. Revoking a key through this process forgets every remembered key
# at once; a key revoked through another API process stops working here within KEY_CACHE_S. Accounts never
# change through this API once created.
KEY_CACHE_S = 5.0
ACCOUNT_CACHE_S = 30.0


async def _key(request: Request, db: AsyncDatabase, key_hash: str) -> dict | None:
    remembered: Remembered[str, dict] = request.app.state.keys
    key = await remembered.get_or_load(key_hash, lambda: keys.live(db, key_hash))
    if key is not None:
        await keys.record_use(db, key)
    return key


async def _account(request: Request, db: AsyncDatabase, account_id: str) -> dict | None:
    remembered: Remembered[str, dict] = request.app.state.accounts
    return await remembered.get_or_load(account_id, lambda: accounts.by_id(db, account_id))


async def _authenticate(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="an API key, for scripts")] = None,
    authorization: Annotated[str | None, Header(description="`Bearer <session token>`, for the console")] = None,
) -> Account | None:
    """The account behind the request's credentials; None when it sent none; 401 when they are bad."""
    db = app_db(request)
    session_hash = None
    if x_api_key:
        if not x_api_key.startswith(API_KEY_PREFIX):
            raise ApiError(401, f"the X-API-Key header does not hold an API key ({_AUTH_HELP})")
        key = await _key(request, db, token_hash(x_api_key))
        if key is None:
            raise ApiError(401, "the API key is unknown or revoked: create a new one in the console under Keys")
        account_id, credential, bucket = key["account"], f"key:{key['prefix']}", key["key_id"]
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(SESSION_PREFIX):
            raise ApiError(401, f"the Authorization header must be `Bearer <session token>` ({_AUTH_HELP})")
        session_hash = token_hash(token)
        account_id = await sessions.account_for(db, session_hash)
        if account_id is None:
            raise ApiError(401, "the session has expired or was logged out: log in again")
        credential, bucket = "session", session_hash
    else:
        return None

    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(bucket)
    if wait:
        raise ApiError(429, f"rate limit exceeded for this credential; retry in {wait:.1f} s",
                       headers={"Retry-After": limiter.retry_after(wait)})
    account = await _account(request, db, account_id)
    if account is None:  # deleted account whose key or session survived
        raise ApiError(401, "the account behind this credential no longer exists")
    return Account(account["_id"], account["email"], account["shop_name"], account["created"], credential, session_hash)


async def _current_account(account: Annotated[Account | None, Depends(_authenticate)]) -> Account:
    if account is None:
        raise ApiError(401, f"authentication required: {_AUTH_HELP}", headers={"WWW-Authenticate": "Bearer"})
    return account


OptionalAccount = Annotated[Account | None, Depends(_authenticate)]
CurrentAccount = Annotated[Account, Depends(_current_account)]


def owned(kind: str, fetch: Callable[[AsyncDatabase, str, str], Awaitable[dict | None]], param: str) -> Any:
    """A dependency loading the path's object for the current shop; another shop's object is a 404, as a missing one.

    `Annotated[dict, owned("product", products.get, "product_id")]` in a route's signature replaces the
    fetch-and-check each route would otherwise repeat.
    """

    async def load(request: Request, account: CurrentAccount, db: Db) -> dict:
        object_id = request.path_params[param]
        found = await fetch(db, account.id, object_id)
        if found is None:
            raise not_found(kind, object_id)
        return found

    return Depends(load)
