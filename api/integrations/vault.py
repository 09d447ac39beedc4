"""Store secrets (consumer key/secret, webhook secret) encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key is derived from the settings' secret key (HKDF, its own purpose label), so a database dump without the
settings reveals no store credentials; rotating the secret key means registering the stores' keys again. Secrets are shown to
people only masked: enough to recognise which key is registered, never enough to use it.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class VaultError(Exception):
    pass


class Vault:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError) as error:
            raise VaultError("the integrations secret key must be a Fernet key: 32 url-safe base64-encoded bytes "
                             "(make one with `python -c 'from cryptography.fernet import Fernet; "
                             "print(Fernet.generate_key().decode())'`)") from error

    @classmethod
    def from_secret_key(cls, secret_key: str) -> "Vault":
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kalas-iris integrations secrets")
        return cls(base64.urlsafe_b64encode(derived.derive(secret_key.encode())).decode())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise VaultError("a stored secret cannot be decrypted with the configured key (was the key changed?)") from error


def mask(secret: str) -> str:
    """`ck_1234…abcd`: the prefix WooCommerce gives its keys and the last four characters."""
    prefix = secret[:3] if secret[:3] in ("ck_", "cs_") else ""
    return f"{prefix}…{secret[-4:]}" if len(secret) > 8 else "…"
