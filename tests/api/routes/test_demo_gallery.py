"""Similar items in the demo gallery: an index over a shared-data directory, items shown from that directory."""
from __future__ import annotations

import asyncio

import numpy as np
from fastapi.testclient import TestClient

from api.clients.in_process import InProcessClient
from api.main import create_app
from index import CatalogueIndex, CatalogueStore
from kalas.dataset import read_records
from tests.api.conftest import create_shop


def test_demo_items_are_found_titled_and_served(model_settings, served_models, shared_data):
    data_dir = shared_data / "fashion-products"
    records = read_records(data_dir)[:5]
    inference = InProcessClient(dict(served_models))
    try:
        vectors = [answer.vector for answer in asyncio.run(inference.embed([r.image.read_bytes() for r in records]))]
        # A small demo catalogue built the way scripts/demo_gallery.py builds it: keyed by the data set's ids.
        index = CatalogueIndex.build(len(vectors[0]), [r.id for r in records], np.stack(vectors), images=[r.id for r in records])
        CatalogueStore(model_settings.index_dir).replace("demo", index)
        settings = model_settings.model_copy(update={"demo_data_dir": data_dir})
        with TestClient(create_app(settings, inference=inference)) as client:
            shop = create_shop(client)
            query = records[2].image.read_bytes()
            mine = client.post("/api/v1/products/upload", headers=shop.headers, data={"title": "mine"},
                               files=[("images", ("p.jpg", query))]).json()["id"]
            answer = client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", query)},
                                 data={"catalogue": "demo", "k": "3"})
            assert answer.status_code == 200, answer.text
            # Only the gallery's items: the shop's own product, the same photo, never leaks into it.
            assert {i["product"]["id"] for i in answer.json()["items"]} <= {r.id for r in records} - {mine}
            best = answer.json()["items"][0]
            assert best["product"]["id"] == records[2].id and best["product"]["title"] == records[2].labels["title"]
            assert best["product"]["created"] is None and len(answer.json()["items"]) == 3
            photo = client.get(best["product"]["images"][0]["url"])
            assert photo.status_code == 200 and photo.content == query
            forged = client.get(f"/api/v1/demo/images/{records[0].id}", params={"expires": "9999999999", "signature": "0" * 64})
            assert forged.status_code == 403
            # The shop's own catalogue stays separate: it holds its one product.
            own = client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", query)}).json()
            assert own["catalogue"] == "shop" and [i["product"]["id"] for i in own["items"]] == [mine]
    finally:
        asyncio.run(inference.aclose())
