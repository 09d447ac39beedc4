"""A small keep-alive HTTP/1.1 client for the API's calls to TorchServe: one photo in, one JSON answer out.

Why not aiohttp: every annotate and similar-items request makes one such call, and on the 2-core machine the
model keeps both cores busy, so the API's own CPU time shows up almost whole as latency. aiohttp spent about
0.76 ms of CPU per call here, a bare asyncio connection about 0.28 ms (measured in the same run, warm loop); this
client is the bare connection plus httptools' parser (the one uvicorn uses), so chunked answers, keep-alive
and `Connection: close` are read as HTTP says.

Connections are kept in a pool and reused. A pooled connection the server closed while it sat idle fails before
any byte of the answer arrives; such a request is sent once more on a new connection. Plain http only: TorchServe
sits beside the API on a private address.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools

MAX_IDLE = 64  # connections kept open between requests (a batch of photos is sent concurrently)
# Requests in flight at once; more wait here for a free slot (within their timeout). TorchServe queues at most
# job_queue_size (100) requests per model and refuses the rest with 503 "has no worker to serve inference
# request": a reindex keeps 4 batches of 32 photos in flight, and a busy API more.
MAX_IN_FLIGHT = 64


class HttpFailure(Exception):
    """The server could not be reached, or the connection broke before the whole answer came."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read whole."""

    status: int
    body: bytes
    reason: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Connection(asyncio.Protocol):
    """One TCP connection; answers one request at a time (httptools calls the `on_*` methods while it parses)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = True
        self.answered_bytes = 0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._reason = b""
        self._body: list[bytes] = []

    @property
    def ready(self) -> bool:
        """Its last answer was read whole and it may carry another request."""
        waiter = self._waiter
        return (self.reusable and not self.transport.is_closing() and waiter is not None and waiter.done()
                and not waiter.cancelled() and waiter.exception() is None)

    async def send(self, request: bytes) -> Answer:
        self._waiter = asyncio.get_running_loop().create_future()
        self._reason, self._body, self.answered_bytes = b"", [], 0
        self.transport.write(request)
        return await self._waiter

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.answered_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(f"the answer is not valid HTTP ({error})")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("the connection closed before the answer was complete")

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.reusable = False
            self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(Answer(self._parser.get_status_code(), b"".join(self._body),
                                           self._reason.decode("latin-1")))

    def _fail(self, message: str) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HttpFailure(message))


class KeepAliveHttp:
    """`await http.request("POST", "/predictions/m", body=..., headers={...}, timeout=60)` → Answer.

    Raises HttpFailure when the server cannot be reached or breaks the connection, TimeoutError past `timeout`.
    """

    def __init__(self, base_url: str, *, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base_url!r}: give TorchServe's address as http://host:port")
        self._host, self._port = parts.hostname, parts.port or 80
        self._host_header = f"Host: {parts.netloc}\r\n"
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None  # made with the event loop's connections (_slots_here)

    async def request(self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout: float) -> Answer:
        head = f"{method} {path} HTTP/1.1\r\n{self._host_header}Content-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = head.encode("latin-1") + b"\r\n" + body
        async with asyncio.timeout(timeout):
            async with self._slots_here():
                connection, reused = await self._take()
                try:
                    answer = await connection.send(request)
                except HttpFailure:
                    if not (reused and connection.answered_bytes == 0):
                        raise
                    # The server closed the pooled connection while it was idle: nothing was answered, so send again.
                    connection = await self._open()
                    answer = await connection.send(request)
                finally:
                    self._give_back(connection)
        return answer

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.transport.close()

    def _slots_here(self) -> asyncio.Semaphore:
        """The bound on requests in flight, for the running event loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # also the first time: no loop yet
            # Connections and the semaphore belong to the event loop that made them; a client used from another
            # loop (a script's second asyncio.run) starts afresh.
            self._idle, self._loop = [], loop
            self._slots = asyncio.Semaphore(self._max_in_flight)
        return self._slots

    async def _take(self) -> tuple[_Connection, bool]:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and not connection.transport.is_closing():
                return connection, True
        return await self._open(), False

    async def _open(self) -> _Connection:
        try:
            _, connection = await asyncio.get_running_loop().create_connection(_Connection, self._host, self._port)
        except OSError as error:
            raise HttpFailure(f"cannot connect to {self._host}:{self._port}: {type(error).__name__} {error}") from None
        return connection

    def _give_back(self, connection: _Connection) -> None:
        """Back into the pool once its answer was read whole; closed if it broke, timed out or the pool is full."""
        if connection.ready and len(self._idle) < MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.reusable = False
            connection.transport.close()
