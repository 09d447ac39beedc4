"""The API over the real TorchServe (HTTP inference client): the same answers as in-process, end to end."""
from __future__ import annotations

import asyncio
from typing import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.clients.in_process import InProcessClient
from api.main import create_app
from tests.api.conftest import create_shop
from tests.support.annotations import assert_same_annotation

pytestmark = pytest.mark.slow


@pytest.fixture
def served_client(model_settings, torchserve) -> Iterator[TestClient]:
    # The app opens its own client from the URL, as in production.
    settings = model_settings.model_copy(update={"inference_url": torchserve.inference_url})
    with TestClient(create_app(settings)) as client:
        yield client


def test_annotation_through_torchserve_matches_in_process(served_client, served_models, photos):
    shop = create_shop(served_client)
    answer = served_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
    assert answer.status_code == 201, answer.text
    local = InProcessClient(dict(served_models))
    try:
        [expected] = asyncio.run(local.annotate([photos[0]]))
        [embedded] = asyncio.run(local.embed([photos[0]]))
    finally:
        asyncio.run(local.aclose())
    body = answer.json()
    # The model answers the photo's embedding too (a shop's own model reads it), the embedder's very vector; the
    # API never answers it.
    np.testing.assert_allclose(expected.pop("embedding"), embedded.vector, atol=1e-5)
    np.testing.assert_allclose(expected.pop("signals"), embedded.signals, atol=1e-5)
    assert "embedding" not in body and "signals" not in body
    # The model's policy table (thresholds per target precision) is read by the worker, not kept per annotation;
    # an annotation's own `policy` says what a store's policy did, and an upload has none.
    table = expected.pop("policy")
    assert set(table) == {"0.90", "0.95", "0.97", "0.99"} and body["policy"] is None
    assert_same_annotation({k: body[k] for k in expected}, expected)


def test_catalogue_and_similar_through_torchserve(served_client, photos):
    shop = create_shop(served_client)
    ids = [served_client.post("/api/v1/products/upload", headers=shop.headers, data={"title": f"p{i}"},
                              files=[("images", ("p.jpg", photos[i]))]).json()["id"] for i in range(3)]
    found = served_client.post("/api/v1/similar", headers=shop.headers, files={"file": ("q.jpg", photos[1])},
                               data={"k": "3"}).json()["items"]
    assert found[0]["product"]["id"] == ids[1] and found[0]["score"] > 0.999
    assert {item["product"]["id"] for item in found} == set(ids)


def test_a_refused_image_in_a_batch_fails_alone_through_torchserve(served_client, photos):
    from tests.support.images import png_bomb

    shop = create_shop(served_client)
    files = [("files", ("a.jpg", photos[0])), ("files", ("bomb.png", png_bomb())), ("files", ("b.jpg", photos[2]))]
    items = served_client.post("/api/v1/annotations/batch", headers=shop.headers, files=files).json()["items"]
    assert [bool(i["annotation"]) for i in items] == [True, False, True]
    assert items[1]["error"]["code"] == "too_large"
