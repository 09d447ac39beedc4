"""The keep-alive HTTP client TorchServe is reached with, against a small real HTTP server on a free port."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from api.clients.keepalive_http import HttpFailure, KeepAliveHttp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the answer says otherwise

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        if self.server.drops:  # type: ignore[attr-defined]
            # Closed without a word, as a server does to a kept-alive connection it timed out just as a request came.
            self.server.drops -= 1  # type: ignore[attr-defined]
            self.close_connection = True
            return
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/held":  # counts the requests it holds at once
            with self.server.lock:  # type: ignore[attr-defined]
                self.server.held += 1  # type: ignore[attr-defined]
                self.server.peak = max(self.server.peak, self.server.held)  # type: ignore[attr-defined]
            time.sleep(0.1)
            with self.server.lock:  # type: ignore[attr-defined]
                self.server.held -= 1  # type: ignore[attr-defined]
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"ec", b"ho:", body):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        answer = b"echo:" + body + b"|" + self.headers.get("X-Key", "").encode()
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Length", str(len(answer)))
        if self.path in ("/close", "/missing"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.connections = set()  # type: ignore[attr-defined]
    httpd.drops = 0  # type: ignore[attr-defined]
    httpd.lock, httpd.held, httpd.peak = threading.Lock(), 0, 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_answers_are_read_whole_and_the_connection_is_reused(server):
    async def run():
        http = KeepAliveHttp(_url(server))
        try:
            answers = [await http.request("POST", "/", body=b"photo %d" % i, headers={"X-Key": "k"}, timeout=5)
                       for i in range(3)]
            chunked = await http.request("POST", "/chunked", body=b"parts", timeout=5)
            return answers, chunked
        finally:
            await http.aclose()

    answers, chunked = asyncio.run(run())
    assert [(a.status, a.body, a.reason) for a in answers] == [(200, b"echo:photo %d|k" % i, "OK") for i in range(3)]
    assert chunked.status == 200 and chunked.body == b"echo:parts"
    assert len(server.connections) == 1  # one connection (one client port) carried all four requests


def test_a_connection_the_server_closes_is_not_reused(server):
    async def run():
        http = KeepAliveHttp(_url(server))
        try:
            first = await http.request("POST", "/close", body=b"a", timeout=5)
            missing = await http.request("POST", "/missing", body=b"b", timeout=5)
            after = await http.request("POST", "/", body=b"c", timeout=5)
            return first, missing, after
        finally:
            await http.aclose()

    first, missing, after = asyncio.run(run())
    assert first.body == b"echo:a|" and missing.status == 404 and after.body == b"echo:c|"
    assert len(server.connections) == 3


def test_a_pooled_connection_dropped_unanswered_is_retried_once_on_a_new_one(server):
    async def run():
        http = KeepAliveHttp(_url(server))
        try:
            await http.request("POST", "/", body=b"a", timeout=5)
            server.drops = 1
            retried = await http.request("POST", "/", body=b"b", timeout=5)
            server.drops = 2  # the pooled connection and the new one both dropped: no third try
            with pytest.raises(HttpFailure, match="closed before the answer"):
                await http.request("POST", "/", body=b"c", timeout=5)
            return retried
        finally:
            await http.aclose()

    retried = asyncio.run(run())
    assert retried.status == 200 and retried.body == b"echo:b|"
    assert len(server.connections) == 3


def test_an_unreachable_server_and_a_slow_one_fail_clearly(server):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def unreachable():
        http = KeepAliveHttp(f"http://127.0.0.1:{port}")
        await http.request("POST", "/", body=b"a", timeout=5)

    with pytest.raises(HttpFailure, match="cannot connect"):
        asyncio.run(unreachable())

    async def slow():
        http = KeepAliveHttp(_url(server))
        try:
            await http.request("POST", "/slow", body=b"a", timeout=0.2)
        finally:
            await http.aclose()

    with pytest.raises(TimeoutError):
        asyncio.run(slow())


def test_requests_beyond_the_bound_wait_for_a_slot_instead_of_crowding_the_server(server):
    async def run() -> list[bytes]:
        http = KeepAliveHttp(_url(server), max_in_flight=3)
        try:
            answers = await asyncio.gather(*(http.request("POST", "/held", body=b"%d" % i, timeout=10)
                                             for i in range(12)))
        finally:
            await http.aclose()
        return [answer.body for answer in answers]

    bodies = asyncio.run(run())
    assert bodies == [b"echo:%d|" % i for i in range(12)]
    assert server.peak == 3  # type: ignore[attr-defined]


def test_only_plain_http_addresses_are_accepted():
    with pytest.raises(ValueError, match="http://host:port"):
        KeepAliveHttp("https://torchserve.example")
