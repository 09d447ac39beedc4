"""Bad input: each gets a clear 4xx that says what was wrong, and nothing is stored half-way."""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pymongo import MongoClient

from api.clients.in_process import InProcessClient
from api.main import create_app
from tests.api.conftest import create_shop, image_files, make_settings
from tests.support import images as awkward

LIMIT = 200_000


@pytest.fixture
def small_limits(mongo_server, mongo_database, tmp_path, image_host, served_models):
    """The app with a 200 kB upload limit, 3 images per batch and a 1.5 s fetch deadline."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", max_upload_bytes=LIMIT,
                             max_batch=3, fetch_timeout_s=1.5, fetch_allow_origins=frozenset({image_host.origin}))
    inference = InProcessClient(dict(served_models))
    with TestClient(create_app(settings, inference=inference)) as client:
        shop = create_shop(client)
        yield client, shop, settings
    import asyncio

    asyncio.run(inference.aclose())


def _nothing_stored(mongo_uri: str, settings) -> None:
    with MongoClient(mongo_uri) as mongo:
        db = mongo[settings.database]
        assert db.images.count_documents({}) == db.annotations.count_documents({}) == db.products.count_documents({}) == 0
    assert image_files(settings) == []


@functools.cache
def _openapi() -> dict:
    return create_app().openapi()  # the document every app serves at /api/v1/openapi.json


def _documented(answer, error: dict) -> None:
    """The route's OpenAPI entry lists this status with an example of this error code (api/documented_errors.py)."""
    request = answer.request
    for template, operations in _openapi()["paths"].items():
        operation = operations.get(request.method.lower())
        if operation and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), request.url.path):
            documented = operation["responses"].get(str(answer.status_code))
            assert documented, (request.method, template, answer.status_code, "not documented")
            examples = documented["content"]["application/json"]["examples"]
            assert error["code"] in examples, (request.method, template, error["code"], sorted(examples))
            return


def _error(answer, status: int, *words: str) -> dict:
    assert answer.status_code == status, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert set(error) == {"code", "message"}
    for word in words:
        assert word in error["message"], (word, error["message"])
    _documented(answer, error)
    return error


def test_bad_uploads(small_limits, photos, mongo_server, shared_data: Path):
    client, shop, settings = small_limits
    post = lambda body, **kw: client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("f", body)}, **kw)  # noqa: E731

    # Over the limit by its declared length: refused before the body is read.
    _error(post(b"\xff" * (LIMIT + 100_000)), 413, "limit")
    _error(post(awkward.png_bomb()), 413, "megapixels")
    _error(post(awkward.not_an_image()), 400, "not an image")
    _error(post(awkward.corrupt_png()), 400)
    _error(post(b""), 400, "empty")
    truncated = awkward.truncated_jpeg(next((shared_data / "fashion-products" / "images").glob("*.jpg")))
    _error(post(truncated), 400, "truncated")
    outside = post(photos[0], data={"crop": json.dumps({"x": 200, "y": 0, "width": 100, "height": 10})})
    assert _error(outside, 422, "x+width")["code"] == "crop_outside_image"
    _error(post(photos[0], data={"crop": "{not json"}), 422, "crop")
    zero = _error(post(photos[0], data={"crop": json.dumps({"x": 0, "y": 0, "width": 0, "height": 5})}), 422,
                  "'crop.width': Input should be greater than 0")
    assert "errors.pydantic.dev" not in zero["message"]  # a client reads where and what, not the library's links
    _error(post(photos[0], data={"crop": '{"x": -5, "y": 0, "width": 1e400, "height": 3}'}), 422,
           "'crop.x': Input should be greater than or equal to 0; 'crop.width': Input should be a finite number")
    _error(post(photos[0], data={"crop": json.dumps({"x": 0, "y": 0, "width": 5, "height": 5, "depth": 1})}), 422)
    _nothing_stored(mongo_server.uri, settings)


@pytest.fixture
def served_app(small_limits):
    """The same app behind a real uvicorn on a free port, to watch what the server reads off the socket."""
    import threading

    import uvicorn

    from tests.support.mongo import free_port

    client, shop, settings = small_limits
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    yield port, shop
    server.should_exit = True
    thread.join(10)


def _raw_upload(port: int, key: str, headers: str, chunks) -> tuple[bytes, int]:
    """Send a request head and then body chunks until the server answers; (answer, body bytes sent)."""
    import select
    import socket

    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /api/v1/annotations HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                     f"Content-Type: multipart/form-data; boundary=x\r\n{headers}\r\n".encode())
        for chunk in chunks:
            if select.select([sock], [], [], 0.01)[0]:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        sock.settimeout(10)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) == 0:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer, sent


def test_oversized_uploads_are_refused_before_they_are_read_whole(served_app):
    port, shop = served_app
    # Declared too large: answered from the head alone, before a byte of the body is sent.
    answer, _ = _raw_upload(port, shop.key, "Content-Length: 104857600\r\n", [])
    assert answer.startswith(b"HTTP/1.1 413") and b"limit" in answer
    # No length (chunked): the server stops at the limit, long before the client's 64 MB are through.
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    chunks = [part] + [b"\xff" * 65536] * 1024
    framed = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks)
    answer, sent = _raw_upload(port, shop.key, "Transfer-Encoding: chunked\r\n", framed)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 8 * 2**20


def test_batches_over_the_limits(small_limits, photos, mongo_server):
    client, shop, settings = small_limits
    files = [("files", (f"{i}.jpg", photos[i])) for i in range(4)]
    _error(client.post("/api/v1/annotations/batch", headers=shop.headers, files=files), 413, "limit is 3")
    _error(client.post("/api/v1/annotations/batch", headers=shop.headers, files=files[:2],
                       data={"crops": json.dumps([None])}), 422, "1 crop boxes for 2 images")
    _error(client.post("/api/v1/annotations/batch", headers=shop.headers, files=files[:2],
                       data={"crops": json.dumps([None, {"x": 0, "y": 0, "width": 5}])}), 422,
           "'crop[1].height' is required")
    _nothing_stored(mongo_server.uri, settings)


def test_unknown_fields_and_malformed_json(small_limits, image_host, photos):
    client, shop, _ = small_limits
    url = image_host.add("ok.jpg", photos[0])
    error = _error(client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": url, "colour": "red"}), 422)
    assert "unknown field 'colour'" in error["message"]
    malformed = client.post("/api/v1/annotations/url", headers=shop.headers | {"Content-Type": "application/json"},
                            content=b"{nope")
    _error(malformed, 422)
    _error(client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": "ftp://x/y.jpg"}), 422, "url")
    _error(client.post("/api/v1/products", headers=shop.headers, json={"title": "x", "image_urls": [url], "price": 3}),
           422, "unknown field 'price'")


def test_json_nested_too_deeply_for_the_parser_is_a_clear_error(small_limits, photos, mongo_server):
    """Python's JSON parser gives up past about a thousand levels with a RecursionError: in a JSON body, a JSON form
    field or a crop box, 100,000 of them are said to be what they are, never a 500."""
    client, shop, settings = small_limits
    deep = "[" * 100_000
    _error(client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0], "image/jpeg")},
                       data={"crop": deep}), 422, "'crop' must be", "nested too deeply")
    _error(client.post("/api/v1/products/upload", headers=shop.headers,
                       files={"images": ("a.jpg", photos[0], "image/jpeg")}, data={"title": "Tee", "tags": deep}),
           422, "invalid product fields", "nested too deeply")
    body = client.post("/api/v1/products", headers=shop.headers | {"Content-Type": "application/json"},
                       content=deep.encode())
    # FastAPI's own answer to a body its parser gave up on ("There was an error parsing the body"), saying why.
    assert body.status_code == 400, body.text
    assert body.json()["error"] == {"code": "bad_request", "message": "the JSON body is nested too deeply to be read"}
    _nothing_stored(mongo_server.uri, settings)


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/files/ok.jpg", "http://localhost/x.jpg",
                                    "http://169.254.169.254/latest/meta-data/", "http://[::1]/x.jpg", "http://10.0.0.1/x.jpg"])
def test_ssrf_urls_and_redirects_are_refused(small_limits, image_host, photos, mongo_server, target):
    client, shop, settings = small_limits
    image_host.add("ok.jpg", photos[0])
    direct = target.format(port=9)  # a loopback port that is not on the allow list
    _error(client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": direct}), 400, "private")
    redirect = image_host.url("redirect?to=" + target.format(port=image_host.server.server_address[1]).replace(
        f"127.0.0.1:{image_host.server.server_address[1]}", f"127.0.0.2:{image_host.server.server_address[1]}"))
    _error(client.post("/api/v1/similar/url", headers=shop.headers, json={"url": redirect}), 400, "private")
    _nothing_stored(mongo_server.uri, settings)


def test_slow_and_endless_downloads_are_cut_off(small_limits, image_host, mongo_server):
    client, shop, settings = small_limits
    _error(client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": image_host.url("slow")}), 504, "1.5 s")
    _error(client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": image_host.url("endless")}), 413)
    _error(client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": image_host.url("status/404")}), 422, "404")
    _nothing_stored(mongo_server.uri, settings)


def test_a_product_with_one_bad_image_is_not_stored(small_limits, photos, mongo_server):
    client, shop, settings = small_limits
    answer = client.post("/api/v1/products/upload", headers=shop.headers, data={"title": "t"},
                         files=[("images", ("a.jpg", photos[0])), ("images", ("b.jpg", awkward.png_bomb()))])
    _error(answer, 413, "image 2")
    one = [("images", ("a.jpg", photos[0]))]
    blank = _error(client.post("/api/v1/products/upload", headers=shop.headers, files=one,
                               data={"title": "t", "tags": json.dumps(["striped", " "])}), 422, "'tags.1'", "blank")
    assert "errors.pydantic.dev" not in blank["message"]
    _error(client.post("/api/v1/products/upload", headers=shop.headers, files=one, data={"title": "t", "sku": "S" * 101}),
           422, "'sku': String should have at most 100 characters")
    _error(client.post("/api/v1/products/upload", headers=shop.headers, files=one,
                       data={"title": "t", "categories": "Herren-Oberteile"}), 422, "not JSON", '["Herren-Oberteile"]')
    _nothing_stored(mongo_server.uri, settings)


def test_unknown_routes_and_methods(client):
    _error(client.get("/api/v1/nothing-here"), 404, "/api/v1/docs")
    _error(client.put("/api/v1/auth/login", json={}), 405)


def test_a_body_in_another_media_type_than_the_route_reads(small_limits, photos, mongo_server):
    client, shop, settings = small_limits
    # The photo as the raw body, and a JSON body, to the upload route.
    raw = client.post("/api/v1/annotations", headers=shop.headers | {"Content-Type": "image/jpeg"}, content=photos[0])
    _error(raw, 415, "multipart/form-data", "'file'", "image/jpeg")
    _error(client.post("/api/v1/annotations", headers=shop.headers, json={"url": "https://shop.example/a.jpg"}),
           415, "multipart/form-data", "application/json")
    # A form, and JSON text labelled as plain text, to a JSON route.
    _error(client.post("/api/v1/annotations/url", headers=shop.headers, data={"url": "https://shop.example/a.jpg"}),
           415, "application/json", "application/x-www-form-urlencoded")
    plain = client.post("/api/v1/similar/url", headers=shop.headers | {"Content-Type": "text/plain"},
                        content=b'{"url": "https://shop.example/a.jpg"}')
    _error(plain, 415, "JSON body", "text/plain")
    # The right media type with a missing field is still a 422 that names the field.
    _error(client.post("/api/v1/annotations", headers=shop.headers, files={"image": ("a.jpg", photos[0])}),
           422, "'file' is required")
    _nothing_stored(mongo_server.uri, settings)


def test_a_file_name_is_kept_as_the_shops_other_text_and_one_file_is_one_photo(small_limits, mongo_server):
    """A file name the console would show other than it reads (a bidirectional override: "a\u202egpj.exe" shows as
    "aexe.jpg"), with a control character or longer than a file system holds is refused, as a title would be; two
    photos under 'file' are refused instead of one being dropped without a word."""
    client, shop, settings = small_limits
    for name, said in (("a\u202egpj.exe", "bidirectional override U+202E at position 1"),
                       ("a\x1b[31m.jpg", "control character U+001B at position 1"),
                       ("a" * 300 + ".jpg", "304 characters long; the limit is 255")):
        named = client.post("/api/v1/annotations", headers=shop.headers, files={"file": (name, b"\xff\xd8 a photo")})
        _error(named, 422, "the file name", said)
        assert named.json()["error"]["code"] == "invalid_file_name"
    blank = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", b"\xff\xd8 a photo")},
                        data={"title": "   "})
    _error(blank, 422, "'title'", "is blank")
    _error(client.post("/api/v1/products", headers=shop.headers, json={"title": "   ", "sku": " ", "image_urls": []}),
           422, "'title'", "'sku'", "is blank")
    two = client.post("/api/v1/annotations", headers=shop.headers,
                      files=[("file", ("a.jpg", b"\xff\xd8 one")), ("file", ("b.jpg", b"\xff\xd8 two"))])
    _error(two, 422, "'file' takes one photo and 2 were sent", "/api/v1/annotations/batch")
    _nothing_stored(mongo_server.uri, settings)


def test_what_an_outside_probe_found_answers_4xx_saying_what_was_wrong(client):
    """Each case answered 500 or a message nobody could act on before (the black-box probe of every route)."""
    shop = create_shop(client)
    for route in ("/api/v1/annotations", "/api/v1/keys", "/api/v1/reviews", "/api/v1/products", "/api/v1/callbacks",
                  "/api/v1/integrations", "/api/v1/reviews/queue"):
        for offset in (2**63, 2**64, 10_000_001):  # past the database's 64-bit integers, and past the bound
            _error(client.get(route, params={"offset": offset}, headers=shop.session), 422, "offset", "10000000")
        assert client.get(route, params={"offset": 10_000_000}, headers=shop.session).status_code == 200
    malformed = client.post("/api/v1/keys", headers=shop.session | {"Content-Type": "application/json"},
                            content=b'{"name": "x",,}')
    _error(malformed, 422, "not valid JSON", "at character 13")
    not_utf8 = client.post("/api/v1/keys", headers=shop.session | {"Content-Type": "application/json"},
                           content=b'{"name": "\xff\xfe"}')
    _error(not_utf8, 400, "not UTF-8 text (byte 10 is b'\\xff')")
    no_type = client.post("/api/v1/keys", headers=shop.session, content=b'{"name": "x"}')  # JSON, not said to be
    _error(no_type, 415, "takes a JSON body (Content-Type: application/json)", "no Content-Type")
    too_big = client.post("/api/v1/keys", headers=shop.session | {"Content-Type": "application/json"},
                          content=b'{"name": "' + b"x" * (60 * 2**20) + b'"}')
    assert too_big.status_code == 413 and "send less in one request" in too_big.json()["error"]["message"]
    long_name = client.post("/api/v1/annotations", headers=shop.headers,
                            files={"file": ("a" * 5000 + ".jpg", b"\xff\xd8 not really a photo")})
    assert long_name.status_code == 400  # refused by the form parser, before the route: no route-specific code
    assert "header line is over 4224 bytes" in long_name.json()["error"]["message"]


def test_a_console_path_with_a_control_character_is_a_404_and_a_500_closes_its_connection(settings, tmp_path):
    web_dist = tmp_path / "dist"
    web_dist.mkdir()
    (web_dist / "index.html").write_text("<!doctype html><title>console</title>")
    with TestClient(create_app(settings.model_copy(update={"web_dist": web_dist}))) as console:
        _error(console.get("/%00/etc/passwd"), 404, "control character")
        assert console.get("/annotate").status_code == 200  # the console itself still served
    broken = create_app(settings.model_copy(update={"web_dist": tmp_path / "no-console"}))  # no catch-all route

    @broken.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(broken, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
        assert answer.status_code == 500 and answer.headers["connection"] == "close"
        assert answer.json()["error"]["code"] == "internal"


def test_text_metadata_and_ids_are_bounded_and_plain(small_limits, image_host, photos, mongo_server):
    client, shop, settings = small_limits
    url = image_host.add("bounded.jpg", photos[0])

    def product(**fields):
        return client.post("/api/v1/products", headers=shop.headers, json={"title": "Tee", "image_urls": [url]} | fields)

    _error(product(metadata={f"k{i}": "v" for i in range(51)}), 422, "metadata", "at most 50")
    _error(product(metadata={"care": "x" * 1001}), 422, "at most 1000 characters")
    _error(product(metadata={"$where": "1"}), 422, "may not start with '$'")
    _error(product(metadata={"a.b": "1"}), 422, "hold '.'")
    _error(product(title="Tee\x00"), 422, "'title'", "U+0000")
    _error(product(title="Tee \u202egnirts"), 422, "U+202E")
    _error(product(sku="TEE\r\nX-Injected: 1"), 422, "'sku'", "U+000D")
    _error(product(metadata={"brand\x1b[31m": "Acme"}), 422, "U+001B")
    _nothing_stored(mongo_server.uri, settings)
    made = product(metadata={"brand": "Acme", "care": "30 °C"})
    assert made.status_code == 201, made.text
    product_id = made.json()["id"]
    assert client.get(f"/api/v1/products/{product_id}", headers=shop.headers).status_code == 200
    # One canonical form: the same id in capitals names nothing (nx-27017 would otherwise find it).
    _error(client.get(f"/api/v1/products/{product_id.upper()}", headers=shop.headers), 422,
           "24 lowercase hexadecimal characters")
    _error(client.delete(f"/api/v1/products/{product_id.upper()}", headers=shop.headers), 422, "'product_id'")
