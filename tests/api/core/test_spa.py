"""The built console is served at "/" with the SPA fallback; the API keeps its JSON errors under /api/v1."""
from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings


def test_console_files_fallback_and_api_errors(mongo_server, mongo_database, tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>console</title>")
    (dist / "assets" / "app.js").write_text("console.log('hi')")
    (tmp_path / "secret.txt").write_text("outside dist")
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", web_dist=dist)
    with TestClient(create_app(settings)) as client:
        assert "console" in client.get("/").text
        assert client.get("/assets/app.js").text == "console.log('hi')"
        deep = client.get("/similar/anything")  # a client-side route: the app shell answers
        assert deep.status_code == 200 and "console" in deep.text
        assert "outside dist" not in client.get("/%2e%2e/secret.txt").text
        missing = client.get("/api/v1/no-such-route")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert client.get("/api/v1/openapi.json").status_code == 200
        # The API's misses without its version are the API's JSON 404s too; a file the console lacks is no page.
        unversioned = client.get("/api/products")
        assert unversioned.status_code == 404 and "/api/v1/" in unversioned.json()["error"]["message"]
        stale = client.get("/assets/index-0ld.js")
        assert stale.status_code == 404 and "no file /assets/index-0ld.js" in stale.json()["error"]["message"]


def test_no_page_can_be_framed_and_the_documentation_needs_no_cdn(mongo_server, mongo_database, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>console</title>")
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", web_dist=dist)
    with TestClient(create_app(settings)) as client:
        docs = client.get("/api/v1/docs")
        for answer in (client.get("/"), client.get("/api/v1/auth/me"), docs, client.get("/api/v1/openapi.json")):
            assert answer.headers["x-frame-options"] == "DENY", answer.url
            assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
            assert answer.headers["referrer-policy"] == "no-referrer"
        assert docs.status_code == 200 and "cdn." not in docs.text and "/api/v1/docs-assets/swagger-ui-bundle.js" in docs.text
        script = client.get("/api/v1/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
