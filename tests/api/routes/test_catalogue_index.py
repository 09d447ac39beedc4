"""GET /catalogue/index: the catalogue's products against the index's, for the console's Catalogue page.

A catalogue with products is covered end to end (tests/web/test_catalogue_similar.py, real models and FAISS)."""
from __future__ import annotations

from tests.api.conftest import create_shop


def test_an_empty_catalogue_has_an_empty_index(client):
    shop = create_shop(client)
    answer = client.get("/api/v1/catalogue/index", headers=shop.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"products": 0, "indexed": 0, "vectors": 0, "kind": None, "dim": None, "stale": None}


def test_index_status_needs_credentials(client):
    assert client.get("/api/v1/catalogue/index").status_code == 401
