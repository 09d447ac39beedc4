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
