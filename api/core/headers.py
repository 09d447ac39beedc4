"""Headers every answer carries, the console's pages and the API's alike: no page of the service may be shown inside
another site's frame (the console keeps its session token in the browser: a framing site could steer clicks on it),
no address of it is sent on to another site, and no answer is sniffed into another type than it says.

Three fixed headers need no library (`secure` and `secweb` make policies configurable, which these are not): a pure
ASGI wrapper adds them as the answer starts, for streamed answers too, without Starlette's per-request middleware
task.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
           (b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff")]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(header for header in HEADERS if header[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
