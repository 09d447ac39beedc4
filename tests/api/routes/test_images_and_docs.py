"""Signed image links, and the OpenAPI document a shop developer reads."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.api.conftest import create_shop


def test_signed_links_are_checked(model_client, photos):
    shop = create_shop(model_client)
    image = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])}).json()["image"]
    url = urlparse(image["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert model_client.get(image["url"]).status_code == 200
    forged = model_client.get(url.path, params=query | {"signature": "0" * 64})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "bad_signature"
    expired = model_client.get(url.path, params=query | {"expires": "1000"})
    assert expired.status_code == 403
    other_image = model_client.get(f"/api/v1/images/{'f' * 24}", params=query)  # a signature is bound to its image
    assert other_image.status_code == 403
    assert model_client.get(url.path).status_code == 401  # neither signature nor credentials
    assert model_client.get(url.path, headers=shop.headers).content == photos[0]


def test_openapi_documents_examples_errors_and_auth(client):
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/annotations", "/api/v1/annotations/url", "/api/v1/annotations/batch", "/api/v1/similar",
                 "/api/v1/products", "/api/v1/products/import", "/api/v1/reviews/export", "/api/v1/keys",
                 "/api/v1/auth/login", "/api/v1/callbacks"):
        assert path in paths, path
    error = spec["components"]["schemas"]["ErrorOut"]
    assert error["properties"]["error"]["$ref"].endswith("ErrorDetail")
    annotate = paths["/api/v1/annotations/url"]["post"]
    assert {"400", "401", "413", "422", "429", "503", "504"} <= set(annotate["responses"])
    # Each error status of a photo route carries example answers, one per error code (tests/api/test_bad_input.py
    # checks that the codes the API really answers with are among them).
    examples = paths["/api/v1/annotations"]["post"]["responses"]["400"]["content"]["application/json"]["examples"]
    assert {"not_an_image", "invalid_image"} <= set(examples)
    assert examples["not_an_image"]["value"]["error"]["message"].startswith("the data is not an image")
    assert spec["components"]["schemas"]["Crop"]["properties"]["x"]["examples"] == [10]
    assert client.get("/api/v1/docs").status_code == 200
