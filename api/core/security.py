"""Passwords, API keys, session tokens and signatures: every secret the API issues or checks.

Passwords are hashed with argon2id (memory-hard). API keys and session tokens are long random strings, so a
fast SHA-256 is enough to store them: nobody can brute-force 256 random bits, and the lookup stays one index
probe. Signatures (image URLs, callbacks) are HMAC-SHA256 under keys derived from the one secret.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Checked when the e-mail is unknown, so a login for a missing account costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("no account has this password")

API_KEY_PREFIX = "ki_"
SESSION_PREFIX = "kis_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """True when `password` matches; runs a full argon2 check even when there is no stored hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    """A new API key: `secret` is shown to the shop once; only `prefix` and `hash` are stored."""

    secret: str
    prefix: str
    hash: str


def new_api_key() -> IssuedKey:
    public = secrets.token_hex(4)
    secret = f"{API_KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
    return IssuedKey(secret=secret, prefix=f"{API_KEY_PREFIX}{public}", hash=token_hash(secret))


def new_session_token() -> tuple[str, str]:
    """(token for the client, hash to store)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def new_id() -> str:
    """Object ids are random, so knowing one id tells nothing about another shop's ids."""
    return secrets.token_hex(12)


@functools.lru_cache(maxsize=16)  # a similar-items answer signs ten image URLs: one derivation, not ten
def _derived_key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def sign_image(secret_key: str, image_id: str, expires: int) -> str:
    message = f"{image_id}.{expires}".encode("utf-8")
    return hmac.new(_derived_key(secret_key, "image-url"), message, hashlib.sha256).hexdigest()


def image_signature_valid(secret_key: str, image_id: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters, and a signature is whatever the URL holds.
    return hmac.compare_digest(sign_image(secret_key, image_id, expires).encode(), signature.encode("utf-8"))


def sign_callback(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Kalas-Signature` header value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`.

    The timestamp is signed with the body so a receiver can refuse replays older than a few minutes.
    """
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("utf-8") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
