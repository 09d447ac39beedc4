"""Fetching URLs that a shop gave us, without letting the shop reach our private network (SSRF).

Every request is checked where it leaves (`CheckedTransport`): the host is resolved there, every address it resolves
to must be public (not private, loopback, link-local, multicast, reserved or unspecified, IPv4-mapped forms
included), and the connection goes to the address that was checked, so a DNS answer cannot change between the
check and the connect, nor between one request and the next (DNS rebinding). `SafeHttp` fetches a URL through it:
redirects followed by hand, each hop checked the same way, the whole exchange under one deadline and the body read
in chunks up to a byte limit, so a slow, endless or huge answer is cut off.

One SafeHttp serves the API (image URLs, callbacks) and the WooCommerce worker; open it once, close it once. A store's
REST client gets a CheckedTransport of its own with the same policy (`SafeHttp.transport`).
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from api.core.limits import whole_number
from api.domain.errors import DomainError

DEFAULT_PORTS = {"http": 80, "https": 443}


# Failures that may pass: the host did not answer, answered an error, redirected too often, or was too slow.
_PASSING = frozenset({"fetch_failed", "fetch_timeout", "too_many_redirects"})


class FetchError(DomainError):
    """A URL that could not be used: refused (`url_not_allowed`), `too_large`, `fetch_failed`, `too_many_redirects`
    or `fetch_timeout`, and why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code, retryable=code in _PASSING)


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes
    content_type: str
    url: str  # after redirects


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class CheckedTransport(httpx.AsyncBaseTransport):
    """httpx's transport with every request sent to an address of its host checked public at that moment (unless
    the request's "host:port" is in `allow_origins`); the request keeps its Host header and, over HTTPS, the host
    name for SNI and the certificate check. A refused address is a FetchError `url_not_allowed`."""

    def __init__(self, allow_origins: frozenset[str] = frozenset()) -> None:
        self.allow_origins = allow_origins
        # trust_env=False: a proxy from the environment would connect for us and bypass the address check.
        self._inner = httpx.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        deadline = (request.extensions.get("timeout") or {}).get("connect")
        try:
            async with asyncio.timeout(deadline):
                address = await self.resolve(request.url)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"{host} did not resolve within {deadline:g} s", request=request) from None
        request.url = request.url.copy_with(host=address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def lets_through(self, url: httpx.URL) -> bool:
        """Whether the URL's "host:port" is one the operator let through although it may be private."""
        return f"{url.host}:{url.port or DEFAULT_PORTS.get(url.scheme)}" in self.allow_origins

    async def resolve(self, url: httpx.URL) -> str:
        """The address to connect to, after checking that every address of the host is public."""
        port = url.port or DEFAULT_PORTS.get(url.scheme)
        host = url.host
        if port is None or not host:
            raise FetchError("url_not_allowed", f"{str(url)[:80]!r} is not an http(s) URL with a host")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise FetchError("fetch_failed", f"the host {host!r} does not resolve") from None
        except UnicodeError:  # a label empty or over 63 characters cannot be encoded for DNS at all
            raise FetchError("url_not_allowed", f"{host[:80]!r} is not a valid host name") from None
        addresses = [info[4][0] for info in infos]
        if not self.lets_through(url):
            private = [a for a in addresses if not _is_public(a)]
            if private:
                raise FetchError("url_not_allowed",
                                 f"{host} resolves to a private, loopback or link-local address ({private[0]}); "
                                 "only public http(s) URLs are fetched")
        return addresses[0]


class SafeHttp:
    def __init__(self, *, timeout_s: float = 10.0, max_bytes: int = 10 * 2**20, max_redirects: int = 5,
                 allow_origins: frozenset[str] = frozenset(), user_agent: str = "Kalas-Iris/1.0") -> None:
        """`allow_origins`: "host:port" pairs let through although they resolve to private addresses."""
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.allow_origins = allow_origins
        self._checked = CheckedTransport(allow_origins)
        self._http = httpx.AsyncClient(transport=self._checked, follow_redirects=False, timeout=timeout_s,
                                       headers={"User-Agent": user_agent})

    def lets_through(self, url: str) -> bool:
        """Whether `url`'s origin is one the operator let through (`allow_origins`: an intranet host)."""
        return self._checked.lets_through(_parse(url))

    def transport(self) -> CheckedTransport:
        """A transport of its own (its connections, closed with its client) that checks addresses as this one does."""
        return CheckedTransport(self.allow_origins)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, url: str, *, max_bytes: int | None = None) -> Fetched:
        """GET `url`, following checked redirects; a non-2xx final answer is a FetchError."""
        fetched = await self._run(self._exchange("GET", url, b"", {}, max_bytes or self.max_bytes, follow=True))
        if not 200 <= fetched.status < 300:
            raise FetchError("fetch_failed", f"{fetched.url} answered HTTP {fetched.status}, not an image")
        return fetched

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Fetched:
        """POST to `url` (no redirects followed: a callback must answer where it was registered)."""
        return await self._run(self._exchange("POST", url, body, headers, 64 * 1024, follow=False))

    async def check(self, url: str) -> None:
        """Refuse a URL now (e.g. when a callback is registered) rather than at its first use."""
        await self._run(self._checked.resolve(_parse(url)))

    async def _run(self, work):
        try:
            async with asyncio.timeout(self.timeout_s):
                return await work
        except TimeoutError:
            raise FetchError("fetch_timeout",
                             f"the URL did not answer in full within {self.timeout_s:g} s; host the file somewhere faster") from None

    async def _exchange(self, method: str, url: str, body: bytes, headers: dict[str, str], max_bytes: int,
                        follow: bool) -> Fetched:
        for _ in range(self.max_redirects + 1):
            request = self._http.build_request(method, _parse(url), content=body or None, headers=headers)
            try:
                response = await self._http.send(request, stream=True)
            except httpx.HTTPError as error:
                raise FetchError("fetch_failed", f"could not fetch {url}: {type(error).__name__} {error}") from None
            try:
                location = response.headers.get("location")
                if follow and response.status_code in (301, 302, 303, 307, 308) and location:
                    url = _redirected(url, location)
                    continue
                return Fetched(response.status_code, await read_limited(response, max_bytes, url),
                               response.headers.get("content-type", ""), url)
            finally:
                await response.aclose()
        raise FetchError("too_many_redirects", f"more than {self.max_redirects} redirects starting at {url}")


def _redirected(url: str, location: str) -> str:
    """Where a redirect from `url` leads. httpx refuses most Locations that are no URL before this; one it lets by
    ("//[") makes `urljoin` raise ValueError, which is a FetchError here."""
    try:
        return urljoin(url, location)
    except ValueError as error:
        raise FetchError("fetch_failed", f"{url} redirected to the Location {location[:80]!r}, which is no URL "
                                         f"({error})") from None


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise FetchError("url_not_allowed", f"{url!r} is not a valid URL: {error}") from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise FetchError("url_not_allowed", f"{url!r} is not an http(s) URL with a host")
    return parsed


async def read_limited(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    """A streamed answer's body, decoded, refused (`too_large`, naming `url`) past `max_bytes`."""
    declared = whole_number(response.headers.get("content-length"), max_digits=30)
    too_large = FetchError("too_large", f"{url} is larger than the limit of {max_bytes / 2**20:.1f} MiB")
    if declared is not None and declared > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():  # decoded: a gzip bomb counts at its real size
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
