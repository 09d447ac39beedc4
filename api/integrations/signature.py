"""WooCommerce webhook signatures: `X-WC-Webhook-Signature` is base64(HMAC-SHA256(raw body, webhook secret)).

The body is signed exactly as sent (WooCommerce signs after JSON encoding), so verification must use the raw
request bytes, never a re-serialised payload.
"""
from __future__ import annotations

import base64
import hashlib
import hmac


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, secret: str, signature: str | None) -> bool:
    """True when `signature` is the body's signature; compared in constant time so that timing reveals nothing."""
    if not signature:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode())


def is_ping(body: bytes, signature: str | None) -> bool:
    """The request WooCommerce sends when a webhook is saved: form body `webhook_id=<id>`, no signature."""
    if signature:
        return False
    name, _, value = body.decode("latin-1").strip().partition("=")
    return name == "webhook_id" and value.isdigit()
