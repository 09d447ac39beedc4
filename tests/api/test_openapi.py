"""The OpenAPI document says what the API does: every path parameter declared, every status a route answers with
listed (with an example of its code), the batch limit the one the API keeps. The first checks read the routes' code,
so a new `raise ApiError(...)` that its route does not document fails here before a client meets it; the last ones
send each probed case through the real app."""
from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import textwrap

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.core.errors import _CODES, ApiError, not_found
from api.core.settings import Settings
from api.deps import checked_url
from api.documented_errors import CHECKED_URL_ERRORS
from api.main import API_PREFIX, create_app
from api.routes import ROUTERS
from tests.api.conftest import create_shop, make_settings

ANY_ID = "6650c3f2a1b4c5d6e7f80912"


@functools.cache
def _openapi() -> dict:
    return create_app().openapi()  # the document every app serves at /api/v1/openapi.json


def _operations():
    for path, operations in _openapi()["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def test_every_path_parameter_is_declared_once():
    """Each `{name}` of a path is a declared path parameter of every operation on it (Schemathesis and generated
    clients refuse an operation that leaves one out), and no operation declares one its path lacks."""
    wrong = {}
    for method, path, operation in _operations():
        in_path = re.findall(r"\{([^}]+)\}", path)
        declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        if sorted(declared) != sorted(in_path) or not all(p["required"] for p in operation.get("parameters", [])
                                                          if p["in"] == "path"):
            wrong[f"{method} {path}"] = declared
    assert not wrong, wrong


def test_path_ids_are_checked_as_ids():
    for method, path, operation in _operations():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"].endswith("_id") and parameter["name"] != "item_id":
                assert parameter["schema"].get("pattern") == "^[0-9a-f]{24}$", (method, path, parameter)


def _literal(node: ast.AST):
    return node.value if isinstance(node, ast.Constant) else None


@functools.cache
def _raised(function) -> frozenset[tuple[int, str | None]]:
    """(status, code or None) of each ApiError `function` makes with a literal status, itself or through the
    functions of api/ it calls by name (followed through modules: `checked_url`, `not_found`, `too_many_guesses`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return frozenset()
    names = dict(getattr(function, "__globals__", {}))
    if getattr(function, "__closure__", None):
        names |= inspect.getclosurevars(function).nonlocals  # `owned(...)`'s loader: its kind
    found: set[tuple[int, str | None]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        target = names.get(node.func.id)
        if target is ApiError and node.args and isinstance(status := _literal(node.args[0]), int):
            code = (_literal(node.args[2]) if len(node.args) > 2
                    else next((_literal(k.value) for k in node.keywords if k.arg == "code"), _CODES.get(status)))
            found.add((status, code))
        elif target is not_found and node.args:
            kind = node.args[0]
            kind = _literal(kind) if isinstance(kind, ast.Constant) else names.get(getattr(kind, "id", ""))
            found.add((404, not_found(kind, ANY_ID).code if isinstance(kind, str) else None))
        elif target is checked_url:  # its status is the fetch error's (api/core/errors.py, domain_status)
            found |= {(status, code) for status, code, _ in CHECKED_URL_ERRORS}
        elif inspect.isfunction(target) and target.__module__.startswith("api."):
            found |= _raised(target)
    return frozenset(found)


def _calls(dependant):
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _routes():
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            if route.include_in_schema:
                yield route


def test_every_status_a_route_raises_is_documented():
    """Each ApiError a route (or a dependency of it, or a helper either calls) raises with a literal status is listed
    in the route's OpenAPI responses, with an example of its code."""
    spec, undocumented = _openapi(), []
    routes = list(_routes())
    assert len(routes) >= 50
    for route in routes:
        raised = set().union(*(_raised(call) for call in _calls(route.dependant)))
        for method in route.methods:
            responses = spec["paths"][API_PREFIX + route.path_format][method.lower()]["responses"]
            for status, code in sorted(raised, key=str):
                documented = responses.get(str(status))
                examples = (documented or {}).get("content", {}).get("application/json", {}).get("examples", {})
                if documented is None or (code is not None and code not in examples):
                    undocumented.append(f"{method} {route.path_format}: {status} {code}")
    assert not undocumented, "\n".join(undocumented)


def test_every_route_with_a_body_documents_what_its_body_may_get():
    """A body the parser cannot read (400), one over the size limit (413), one in another media type (415)."""
    missing = {f"{method} {path}": sorted({"400", "413", "415"} - set(operation["responses"]))
               for method, path, operation in _operations() if "requestBody" in operation}
    assert len(missing) >= 15
    assert not {name: statuses for name, statuses in missing.items() if statuses}


def test_the_url_batch_schema_states_the_batch_limit(client):
    limit = Settings.model_fields["max_batch"].default
    items = _openapi()["components"]["schemas"]["ImageUrlBatchIn"]["properties"]["items"]
    assert items["maxItems"] == limit == 16
    shop = create_shop(client)
    batch = lambda n: {"items": [{"url": f"https://shop.example/{i}.jpg"} for i in range(n)]}  # noqa: E731
    over = client.post("/api/v1/annotations/batch/url", headers=shop.headers, json=batch(limit + 1))
    assert over.status_code == 413 and f"the limit is {limit}" in over.json()["error"]["message"], over.text
    _assert_documented(over)


def _assert_documented(answer) -> None:
    """The answer's status is among its operation's documented responses, with an example of its code."""
    request = answer.request
    for template, operations in _openapi()["paths"].items():
        operation = operations.get(request.method.lower())
        if operation and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), request.url.path):
            documented = operation["responses"].get(str(answer.status_code))
            assert documented, (request.method, template, answer.status_code, "not documented", answer.text)
            code = answer.json()["error"]["code"]
            examples = documented["content"]["application/json"]["examples"]
            assert code in examples, (request.method, template, answer.status_code, code, sorted(examples))
            return
    raise AssertionError(f"no operation for {request.method} {request.url.path}")


@pytest.fixture
def store_client(mongo_server, mongo_database, tmp_path, woo_store):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}"}))
    with TestClient(create_app(settings)) as client:
        yield client, create_shop(client), woo_store


def test_the_probed_answers_are_documented(store_client):
    """Each case an outside probe found answered with a status its operation did not list, through the real app."""
    client, shop, store = store_client
    connect = {"store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
               "webhook_secret": "webhook secret typed in wp-admin"}
    assert client.post("/api/v1/integrations", headers=shop.session, json=connect).status_code == 201
    nested = "[" * 5000 + "]" * 5000
    cases = [
        (403, client.request("DELETE", "/api/v1/account", headers=shop.session, json={"password": "not the password"})),
        (400, client.post("/api/v1/callbacks", headers=shop.session, json={"url": "http://127.0.0.1:9/hook"})),
        (409, client.post("/api/v1/integrations", headers=shop.session, json=connect)),
        (403, client.get(f"/api/v1/images/{ANY_ID}", params={"expires": 1, "signature": "0" * 64})),
        (404, client.get(f"/api/v1/annotations/{ANY_ID}", headers=shop.headers)),
        (404, client.post(f"/api/v1/webhooks/woocommerce/{ANY_ID}", content=b"{}")),
        (400, client.post("/api/v1/keys", headers={**shop.session, "Content-Type": "application/json"},
                          content=nested)),
        (413, client.post("/api/v1/keys", headers={**shop.session, "Content-Type": "application/json"},
                          content=json.dumps({"name": "x" * (11 * 2**20)}))),
        (415, client.post("/api/v1/keys", headers=shop.session, data={"name": "sync"})),
        (400, client.post("/api/v1/auth/logout", headers=shop.headers)),
    ]
    for status, answer in cases:
        assert answer.status_code == status, (answer.request.method, answer.request.url.path, answer.text)
        _assert_documented(answer)
