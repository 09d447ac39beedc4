"""A shop's own account: all its data as one download, and deleting the account with everything it owns."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.core.errors import ApiError
from api.core.security import verify_password
from api.data import accounts
from api.deps import CurrentAccount, Svc, client_address, too_many_guesses
from api.domain.account import delete_account, export_account
from api.documented_errors import JSON_BODY_ERRORS, TOO_MANY_GUESSES, WRONG_PASSWORD, error_responses
from api.schemas import AccountDeleteIn, AccountDeletedOut

router = APIRouter(prefix="/account", tags=["auth"])


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "<collection>.json per kind of document, and images/<id> files"}})
async def export(account: CurrentAccount, services: Svc) -> StreamingResponse:
    """Everything the shop owns, as a zip: download it before deleting the account (secrets and vectors left out)."""
    archive = await export_account(services, account.id)

    def chunks():
        with archive:
            while block := archive.read(1 << 16):
                yield block

    return StreamingResponse(chunks(), media_type="application/zip",
                             headers={"Content-Disposition": 'attachment; filename="kalas-iris-account.zip"'})


@router.delete("", response_model=AccountDeletedOut,
               responses=error_responses(TOO_MANY_GUESSES, WRONG_PASSWORD, *JSON_BODY_ERRORS))
async def delete(body: AccountDeleteIn, request: Request, account: CurrentAccount, services: Svc) -> AccountDeletedOut:
    """Delete the account and every byte the shop owns: documents, stored photos, the similar-item index, jobs, keys,
    sessions, and the service's webhooks in its stores. The password is asked again; download the export first
    (GET /account/export): nothing can be recovered."""
    key = f"login:{account.email}@{client_address(request)}"
    if wait := await services.memory.guesses.check(key):
        raise too_many_guesses(wait)
    stored = await accounts.by_id(services.db, account.id)
    if stored is None or not verify_password(body.password, stored["password_hash"]):
        await services.memory.guesses.record_failure(key)
        # 403, not 401: the session is fine (a 401 would sign the console out); the password given is not.
        raise ApiError(403, "the password is wrong: the account was not deleted", "wrong_password")
    return AccountDeletedOut(deleted=await delete_account(services, account.id))
