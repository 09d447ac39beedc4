"""Typed dependencies: a route's signature says what it needs (`account: CurrentAccount, db: Db`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Awaitable, Callable

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient
from api.core.errors import ApiError, domain_status, not_found
from api.core.guessing import retry_after
from api.core.security import API_KEY_PREFIX, SESSION_PREFIX, token_hash
from api.core.settings import Settings
from api.data import accounts, keys, sessions
from api.data.images import ImageStore
from api.domain.catalogue import Catalogues
from api.intake.fetch import FetchError
from api.services import Services


def install_services(app: FastAPI, services: Services) -> None:
    """Called by the app's lifespan: from now on every request reaches `services` through `services_of`."""
    app.state.services = services


def services_of(request: Request) -> Services:
    """The process's services: the one place that reads `app.state`."""
    return request.app.state.services


# `async def`: FastAPI runs a `def` dependency in its thread pool, a thread hand-off per dependency per request for
# nothing. Each dependency also costs FastAPI's resolver CPU on every request (about 8 µs each on an annotate request
# after a pause, measured): the two upload routes the API is timed by (annotate, similar items) and
# `_authenticate`, which every route runs, call `services_of(request)` once instead of taking several dependencies.
async def _services(request: Request) -> Services:
    return services_of(request)


async def _settings(request: Request) -> Settings:
    return services_of(request).settings


async def _db(request: Request) -> AsyncDatabase:
    return services_of(request).db


async def _models(request: Request) -> InferenceClient:
    return services_of(request).models


async def _catalogues(request: Request) -> Catalogues:
    return services_of(request).catalogues


async def _images(request: Request) -> ImageStore:
    return services_of(request).images


# A list's position: past any shop's real size, and far inside the database's 64-bit integers (an offset of 2^63 once
# reached MongoDB and answered 500).
MAX_OFFSET = 10_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many items to skip (at most 10,000,000)")]

# Every id the API gives out is 24 lowercase hexadecimal characters (api/core/security.py, new_id); one in any other
# form names nothing, and is refused before a database (nx-27017 matches ids whatever their case) could say otherwise.
ID_PATTERN = r"^[0-9a-f]{24}$"
ID_HELP = "an id as the API gives them: 24 lowercase hexadecimal characters"
Id = Annotated[str, Path(pattern=ID_PATTERN, description=ID_HELP, examples=["6650c3f2a1b4c5d6e7f80912"])]

Svc = Annotated[Services, Depends(_services)]
Config = Annotated[Settings, Depends(_settings)]
Db = Annotated[AsyncDatabase, Depends(_db)]
Models = Annotated[InferenceClient, Depends(_models)]
Indexes = Annotated[Catalogues, Depends(_catalogues)]
Files = Annotated[ImageStore, Depends(_images)]


@dataclass(frozen=True)
class Account:
    """The shop making the request, and the credential it used."""

    id: str
    email: str
    shop_name: str
    created: Any
    # "key:<prefix>" or "session": recorded as the reviewer of corrections.
    credential: str
    session_hash: str | None = None

    @property
    def reviewer(self) -> str:
        return self.email if self.credential == "session" else self.credential.removeprefix("key:")


_AUTH_HELP = "send an API key as `X-API-Key: ki_...` or a console session as `Authorization: Bearer kis_...`"


async def _key(services: Services, key_hash: str) -> dict | None:
    db = services.db
    key = await services.memory.keys.get_or_load(key_hash, lambda: keys.live(db, key_hash))
    if key is not None:
        await keys.record_use(db, key)
    return key


async def _account(services: Services, account_id: str) -> dict | None:
    return await services.memory.accounts.get_or_load(account_id, lambda: accounts.by_id(services.db, account_id))


async def _authenticate(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="an API key, for scripts")] = None,
    authorization: Annotated[str | None, Header(description="`Bearer <session token>`, for the console")] = None,
) -> Account | None:
    """The account behind the request's credentials; None when it sent none; 401 when they are bad."""
    services = services_of(request)
    db = services.db
    session_hash = None
    if x_api_key:
        if not x_api_key.startswith(API_KEY_PREFIX):
            raise ApiError(401, f"the X-API-Key header does not hold an API key ({_AUTH_HELP})")
        key = await _key(services, token_hash(x_api_key))
        if key is None:
            # Throttled after the look-up, not before: a real key from a guessing address is never slowed.
            addresses, guessing = services.memory.guessing_addresses, f"address:{client_address(request)}"
            if wait := await addresses.check(guessing):
                raise too_many_guesses(wait)
            await addresses.record_failure(guessing)
            raise ApiError(401, "the API key is unknown or revoked: create a new one in the console under Keys")
        account_id, credential = key["account"], f"key:{key['prefix']}"
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(SESSION_PREFIX):
            raise ApiError(401, f"the Authorization header must be `Bearer <session token>` ({_AUTH_HELP})")
        session_hash = token_hash(token)
        account_id = await sessions.account_for(db, session_hash)
        if account_id is None:  # a token we issued that ended, not a guess: not counted
            raise ApiError(401, "the session has expired or was logged out: log in again")
        credential = "session"
    else:
        return None

    # One bucket per shop, whichever of its keys or sessions asks: a shop that made more keys (api/routes/keys.py, MAX_KEYS) or
    # logged in again gets no more requests for it.
    limiter = services.rate_limiter
    wait = await limiter.take(account_id)
    if wait:
        raise ApiError(429, f"rate limit exceeded for this shop (all its keys and sessions together); retry in "
                            f"{wait:.1f} s",
                       headers={"Retry-After": limiter.retry_after(wait)})
    account = await _account(services, account_id)
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
    fetch-and-check each route would otherwise repeat. The path parameter is declared (as `Id`, named `param`), so
    it is validated as every other id and listed in the OpenAPI document.
    """

    # The declaration as a default, not in `Annotated`: annotations are strings here, evaluated without `param`.
    async def load(account: CurrentAccount, db: Db,
                   object_id: str = Path(alias=param, pattern=ID_PATTERN, description=ID_HELP,
                                         examples=["6650c3f2a1b4c5d6e7f80912"])) -> dict:
        found = await fetch(db, account.id, object_id)
        if found is None:
            raise not_found(kind, object_id)
        return found

    return Depends(load)


def client_address(request: Request) -> str:
    """The client's address as the server saw it (behind a proxy, uvicorn's --proxy-headers puts the client's here)."""
    return request.client.host if request.client else "unknown"


def too_many_guesses(wait_s: float) -> ApiError:
    return ApiError(429, f"too many failed attempts with wrong credentials from this address; try again in "
                         f"{retry_after(wait_s)} s", "too_many_guesses", headers={"Retry-After": retry_after(wait_s)})


async def checked_url(services: Services, url: str, field: str | None = None) -> None:
    """Refuse a URL a shop registers (a callback, a store) now rather than at its first use. A host too slow to
    resolve is the registration's fault (422), not a gateway time-out of ours."""
    try:
        await services.http.check(url)
    except FetchError as error:
        status = 422 if error.code == "fetch_timeout" else domain_status(error)
        raise ApiError(status, f"{field}: {error.message}" if field else error.message, error.code) from None
