"""A small real HTTP server standing in for a shop's image host (a network peer we do not own).

Paths: /files/<name> serves a registered body; /redirect?to=<url> answers 302; /slow drips one byte per
half second; /endless streams without end; /status/<code> answers that status; /echo records POSTs;
/gated/<name> serves a registered body once the test opens the gate (`held()`), to hold a request half-way.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class ImageHost:
    server: ThreadingHTTPServer
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    # Status codes /echo answers in turn (then 200), to exercise retries.
    echo_statuses: list[int] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.origin}/{path.lstrip('/')}"

    def add(self, name: str, body: bytes, content_type: str = "image/jpeg") -> str:
        self.files[name] = (body, content_type)
        return self.url(f"files/{name}")

    def held(self, name: str, body: bytes) -> str:
        """A URL of `body` whose answer waits until `gate` is set; `arrived` is set when a request waits there."""
        self.gate.clear()
        self.arrived.clear()
        self.files[name] = (body, "image/jpeg")
        return self.url(f"gated/{name}")


def _handler(host: ImageHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            try:
                if url.path.startswith("/files/") and url.path[7:] in host.files:
                    body, content_type = host.files[url.path[7:]]
                    self._answer(200, body, content_type)
                elif url.path.startswith("/gated/") and url.path[7:] in host.files:
                    host.arrived.set()
                    host.gate.wait(30)
                    body, content_type = host.files[url.path[7:]]
                    self._answer(200, body, content_type)
                elif url.path == "/redirect":
                    self._answer(302, Location=parse_qs(url.query)["to"][0])
                elif url.path.startswith("/status/"):
                    self._answer(int(url.path[8:]), b"nope")
                elif url.path in ("/slow", "/endless"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    while True:
                        self.wfile.write(b"\xff" * (1 if url.path == "/slow" else 65536))
                        self.wfile.flush()
                        if url.path == "/slow":
                            time.sleep(0.5)
                else:
                    self._answer(404, b"not found")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            host.posts.append((self.path, dict(self.headers), body))
            status = host.echo_statuses.pop(0) if host.echo_statuses else 200
            self._answer(status, b"ok")

    return Handler


def start_image_host() -> ImageHost:
    host = ImageHost(server=None)  # type: ignore[arg-type]
    host.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
    host.server.daemon_threads = True
    threading.Thread(target=host.server.serve_forever, daemon=True).start()
    return host


def stop_image_host(host: ImageHost) -> None:
    host.server.shutdown()
    host.server.server_close()
