"""API keys for a shop's scripts: create (secret shown once, at most MAX_KEYS live), list (prefix only), revoke."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.core.errors import ApiError, not_found
from api.core.security import new_api_key
from api.data import keys
from api.deps import CurrentAccount, Db, Id, Offset, services_of
from api.documented_errors import JSON_BODY_ERRORS, TOO_MANY_KEYS, error_responses, not_found_error
from api.schemas import KeyCreated, KeyIn, KeyOut, Page
from api.presenters import key_out

router = APIRouter(prefix="/keys", tags=["keys"])
# Live (unrevoked) keys a shop may hold: a script, a sync, a staging copy each have theirs, with room to rotate.
# Not a rate limit (the shop's keys share one, api/deps.py); a bound on what a shop's leaked secrets could be.
MAX_KEYS = 20


@router.post("", status_code=201, response_model=KeyCreated, responses=error_responses(TOO_MANY_KEYS, *JSON_BODY_ERRORS))
async def create_key(body: KeyIn, account: CurrentAccount, db: Db) -> KeyCreated:
    """A new key. Its `secret` is in this response only: store it now; the server keeps only a hash. A shop holds
    at most 20 live keys (409 `too_many_keys`): revoke one it no longer uses first."""
    # Counted before the insert: two creates at once may both pass at MAX_KEYS - 1 (rare, and bounded by the rate).
    if await keys.live_count(db, account.id) >= MAX_KEYS:
        raise ApiError(409, f"this shop has {MAX_KEYS} live API keys, the most it may hold: revoke one it no longer "
                            "uses (DELETE /api/v1/keys/{key_id}) before creating another", "too_many_keys")
    issued = new_api_key()
    stored = await keys.create(db, account.id, body.name, issued)
    return KeyCreated(**key_out(stored).model_dump(), secret=issued.secret)


@router.get("", response_model=Page[KeyOut])
async def list_keys(account: CurrentAccount, db: Db, offset: Offset = 0,
                    limit: int = Query(50, ge=1, le=200)) -> Page[KeyOut]:
    found, total = await keys.list_for(db, account.id, offset, limit)
    return Page[KeyOut](items=[key_out(k) for k in found], total=total, offset=offset, limit=limit)


@router.get("/{key_id}", response_model=KeyOut, responses=error_responses(not_found_error("key")))
async def get_key(key_id: Id, account: CurrentAccount, db: Db) -> KeyOut:
    key = await keys.get(db, account.id, key_id)
    if key is None:
        raise not_found("key", key_id)
    return key_out(key)


@router.delete("/{key_id}", response_model=KeyOut, responses=error_responses(not_found_error("key")))
async def revoke_key(key_id: Id, request: Request, account: CurrentAccount, db: Db) -> KeyOut:
    """Revoke a key at once; it stays listed with its revocation time."""
    key = await keys.revoke(db, account.id, key_id)
    services_of(request).memory.keys.clear()  # revocations are rare: forgetting every remembered key is simplest
    if key is None:
        raise not_found("key", key_id)
    return key_out(key)
