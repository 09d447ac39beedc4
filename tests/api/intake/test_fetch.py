"""The SSRF-safe fetcher against a real local HTTP server: what it lets through and what it refuses."""
from __future__ import annotations

import asyncio

import pytest

from api.core.errors import domain_status
from api.intake.fetch import FetchError, SafeHttp
from tests.support.image_host import start_image_host, stop_image_host


@pytest.fixture(scope="module")
def host():
    served = start_image_host()
    yield served
    stop_image_host(served)


def fetch(url: str, **options) -> bytes:
    async def run() -> bytes:
        http = SafeHttp(**options)
        try:
            return (await http.get(url)).body
        finally:
            await http.aclose()

    return asyncio.run(run())


def refused(url: str, **options) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **options)
    return caught.value


def test_an_allowed_origin_is_fetched(host):
    url = host.add("a.jpg", b"\xff\xd8 jpeg bytes")
    assert fetch(url, allow_origins=frozenset({host.origin})) == b"\xff\xd8 jpeg bytes"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.jpg", "http://localhost/x.jpg", "http://[::1]/x.jpg", "http://10.0.0.8/x.jpg",
    "http://192.168.1.1/x.jpg", "http://172.16.0.1/x.jpg", "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg", "http://2130706433/x.jpg", "http://[fe80::1]/x.jpg",
    "http://100.64.0.1/x.jpg",
])
def test_private_loopback_and_link_local_addresses_are_refused(url):
    error = refused(url)
    assert domain_status(error) == 400 and error.code == "url_not_allowed"


def test_the_local_server_itself_is_refused_without_an_allow_entry(host):
    error = refused(host.add("b.jpg", b"x"))
    assert error.code == "url_not_allowed" and "127.0.0.1" in error.message


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://localhost:{port}/files/a.jpg",
                                    "http://[::1]:{port}/files/a.jpg", "http://10.1.2.3/"])
def test_redirects_to_private_addresses_are_refused(host, target):
    host.add("a.jpg", b"data")
    url = host.url("redirect?to=" + target.format(port=host.server.server_address[1]))
    error = refused(url, allow_origins=frozenset({host.origin}))
    assert error.code == "url_not_allowed"


@pytest.mark.parametrize("location", ["http://[::1", "http://[zz]/x.jpg", "//["])
def test_a_redirect_to_what_is_no_url_is_refused_saying_so(host, location):
    from urllib.parse import quote

    url = host.url("redirect?to=" + quote(location, safe=""))
    error = refused(url, allow_origins=frozenset({host.origin}))
    # httpx reads a redirect's Location before the fetcher does, and refuses one that is no URL.
    assert error.code == "fetch_failed" and "location" in error.message.lower(), error.message


def test_schemes_other_than_http_are_refused():
    assert refused("file:///etc/passwd").code == "url_not_allowed"
    assert refused("ftp://example.com/x.jpg").code == "url_not_allowed"


def test_slow_download_is_cut_off_at_the_deadline(host):
    error = refused(host.url("slow"), allow_origins=frozenset({host.origin}), timeout_s=1.0)
    assert domain_status(error) == 504 and error.code == "fetch_timeout"


def test_endless_download_is_cut_off_at_the_size_limit(host):
    error = refused(host.url("endless"), allow_origins=frozenset({host.origin}), max_bytes=256 * 1024)
    assert domain_status(error) == 413 and error.code == "too_large"


def test_declared_oversize_is_refused_before_reading(host):
    url = host.add("big.jpg", b"x" * 300_000)
    assert domain_status(refused(url, allow_origins=frozenset({host.origin}), max_bytes=100_000)) == 413


def test_error_status_and_redirect_loops(host):
    allowed = frozenset({host.origin})
    assert domain_status(refused(host.url("status/404"), allow_origins=allowed)) == 422
    loop = host.url("redirect?to=" + host.url("redirect?to=" + host.url("status/200")))
    assert refused(loop, allow_origins=allowed, max_redirects=1).code == "too_many_redirects"
