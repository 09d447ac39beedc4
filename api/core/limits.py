"""Refusing oversized request bodies before they are read whole.

A declared Content-Length over the limit is answered 413 at once, without reading a byte of the body. A body
without one (chunked) is counted as it streams in, and the request fails with 413 the moment it passes the
limit, so a client cannot make the server buffer an unbounded upload.
"""
from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.errors import error_body

# Room for the multipart boundaries and form fields around the files themselves.
MULTIPART_OVERHEAD = 64 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, max_batch_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_batch_bytes = max_batch_bytes

    def _limit(self, path: str) -> int:
        return self.max_batch_bytes if path.endswith(("/batch", "/import")) else self.max_bytes

    def _message(self, limit: int, size: str, scope: Scope) -> str:
        media = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        advice = "shrink the image, or send several requests" if media == b"multipart/form-data" else \
            "send less in one request"
        return f"the request body is {size}; the limit is {limit / 2**20:.1f} MiB ({advice})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"]) + MULTIPART_OVERHEAD
        declared = whole_number(dict(scope["headers"]).get(b"content-length"), max_digits=30)
        if declared is not None and declared > limit:
            body = json.dumps(error_body(413, self._message(limit, f"{declared / 2**20:.1f} MiB", scope))).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._message(limit, "larger than that", scope))
            return message

        await self.app(scope, counting_receive, send)


def json_value(raw: str | bytes) -> object:
    """`json.loads`, where a text nested too deeply for Python's parser (it raises RecursionError past about a
    thousand levels) is a ValueError like any other text that is not JSON: every JSON form field and store answer is
    read through it, so that such a text is a clear error, not a crash."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def whole_number(text: str | bytes | None, max_digits: int = 19) -> int | None:
    """The whole number a header or a store's text writes in ASCII digits (spaces around allowed); None for anything
    else, and for more than `max_digits` digits after leading zeros: Python's `isdigit` takes "²" and "٣", which
    `int` refuses, and `int` reads no more than 4,300 digits, while no length or count here needs more than 19."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if not isinstance(text, str):
        return None
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= max_digits else None
