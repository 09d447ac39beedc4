"""WooCommerce webhook signatures: `X-WC-Webhook-Signature` is base64(HMAC-SHA256(raw body, webhook secret)).

The body is signed exactly as sent (WooCommerce signs after JSON encoding), so verification must use the raw
request bytes, never a re-serialised payload.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from api.integrations.store_data import product_id


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, secret: str, signature: str | None) -> bool:
    """True when `signature` is the body's signature; compared in constant time so that timing reveals nothing."""
    if not signature:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode())


def ping_id(body: bytes, signature: str | None) -> int | None:
    """The webhook id of the request WooCommerce sends when a webhook is saved (form body `webhook_id=<id>`, no
    signature); None for any other request. Unsigned, so anyone may send one: the id is a WordPress id or the
    request is no ping (a digit that is not ASCII, "²", or a number MongoDB cannot hold, was a 500)."""
    if signature:
        return None
    name, _, value = body.decode("latin-1").strip().partition("=")
    return product_id(value) if name == "webhook_id" else None
