"""Sign up, log in, log out, and who am I: the console's session lifecycle."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.core.errors import ApiError
from api.core.security import hash_password, new_session_token, verify_password
from api.data import accounts, sessions
from api.deps import Config, CurrentAccount, Db, Svc, client_address, too_many_guesses
from api.documented_errors import (
    BAD_CREDENTIALS, EMAIL_TAKEN, JSON_BODY_ERRORS, LOGOUT_WITH_KEY, TOO_MANY_GUESSES, error_responses,
)
from api.schemas import AccountOut, LoginIn, SessionOut, SignupIn
from api.presenters import account_out

router = APIRouter(prefix="/auth", tags=["auth"])


async def _open_session(db: Db, settings: Config, account: dict) -> SessionOut:
    token, token_hash = new_session_token()
    session = await sessions.create(db, account["_id"], token_hash, settings.session_ttl_s)
    return SessionOut(token=token, expires=session["expires"], account=account_out(account))


@router.post("/signup", status_code=201, response_model=SessionOut,
             responses=error_responses(EMAIL_TAKEN, *JSON_BODY_ERRORS))
async def signup(body: SignupIn, db: Db, settings: Config) -> SessionOut:
    """Create a shop account and log it in."""
    account = await accounts.create(db, body.email, body.shop_name, hash_password(body.password))
    if account is None:
        raise ApiError(409, f"an account with the e-mail {body.email!r} already exists: log in instead", "email_taken")
    return await _open_session(db, settings, account)


@router.post("/login", response_model=SessionOut,
             responses=error_responses(TOO_MANY_GUESSES, BAD_CREDENTIALS, *JSON_BODY_ERRORS))
async def login(body: LoginIn, request: Request, services: Svc) -> SessionOut:
    """Log in. Repeated wrong passwords from one address make it wait longer and longer (429 with Retry-After);
    another address, the owner's, is not slowed by them."""
    address = client_address(request)
    by_address, by_account = f"address:{address}", f"login:{body.email.lower()}@{address}"
    memory = services.memory
    # Checked before the password is hashed: a throttled guess costs no argon2 work.
    if wait := max(await memory.guessing_addresses.check(by_address), await memory.guesses.check(by_account)):
        raise too_many_guesses(wait)
    account = await accounts.by_email(services.db, body.email)
    # verify_password hashes even when the account is missing, so timing does not tell which e-mails exist.
    if not verify_password(body.password, account["password_hash"] if account else None) or account is None:
        await memory.guessing_addresses.record_failure(by_address)
        await memory.guesses.record_failure(by_account)
        raise ApiError(401, "wrong e-mail or password", "bad_credentials")
    await memory.guesses.record_success(by_account)
    return await _open_session(services.db, services.settings, account)


@router.post("/logout", status_code=204, responses=error_responses(LOGOUT_WITH_KEY))
async def logout(account: CurrentAccount, db: Db) -> Response:
    """End the console session sent in the Authorization header (API keys are revoked under /keys instead)."""
    if account.session_hash is None:
        raise ApiError(400, "logout ends a console session; this request used an API key (revoke it under /keys)")
    await sessions.delete(db, account.session_hash)
    return Response(status_code=204)


@router.get("/me", response_model=AccountOut)
async def me(account: CurrentAccount) -> AccountOut:
    return AccountOut(id=account.id, email=account.email, shop_name=account.shop_name, created=account.created)
