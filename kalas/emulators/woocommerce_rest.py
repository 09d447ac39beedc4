"""The emulated WooCommerce store's HTTP side (kalas/emulators/woocommerce.py holds the store): its uploaded photos,
and the REST API v3 routes the integration calls, answered and paged as WordPress answers them, with the store's
switched-on faults (down, 5xx/429, a host that strips the Authorization header or refuses PUT, a cache that drops
the paging headers or ignores `page`, a challenge page instead of JSON)."""
from __future__ import annotations

import base64
import hmac
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from kalas.emulators.woocommerce_catalogue import StoreError

if TYPE_CHECKING:
    from kalas.emulators.woocommerce import WooCommerceStore

API = "/wp-json/wc/v3"


class RestHandler(BaseHTTPRequestHandler):
    """The store's HTTP side: its uploads, and the REST API v3 routes the integration uses, as WordPress answers them."""
    store: WooCommerceStore
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        store = self.store
        if store.down:
            self.close_connection = True
            return
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if store.refuses_put_delete and method in ("PUT", "DELETE"):
            return self._send(501, b"<html><body><h1>Method Not Implemented</h1></body></html>",
                              {"Content-Type": "text/html"})
        query = parse_qs(url.query)
        if method == "POST":  # WP_REST_Server::serve_request: the method a POST stands for
            method = (query.get("_method", [None])[0] or self.headers.get("X-HTTP-Method-Override") or method).upper()
        if url.path.startswith("/wp-content/uploads/"):
            time.sleep(store.photo_delay_s)
            data = store.uploads.get(url.path.rsplit("/", 1)[1])
            return self._send(200 if data else 404, data or b"not found", {"Content-Type": "image/jpeg"})
        if not url.path.startswith(API):
            return self._json(404, {"code": "rest_no_route", "message": "No route was found.", "data": {"status": 404}})
        if store.answers_html:
            store.api_requests.append((method, url.path, 200))
            return self._send(200, b"<!DOCTYPE html><html><body>Checking your browser before accessing the site."
                                   b"</body></html>", {"Content-Type": "text/html; charset=UTF-8"})
        if store.ignores_page:
            query.pop("page", None)
        status, payload, headers = self._api(method, url.path[len(API):], query, body)
        store.api_requests.append((method, url.path, status))
        if store.strips_paging_headers:
            headers = {k: v for k, v in headers.items() if not k.startswith("X-WP-")}
        self._json(status, payload, headers)

    def _api(self, method: str, path: str, query: dict, body: dict) -> tuple[int, object, dict]:
        store = self.store
        fault = next((f for f in store._faults if f.remaining > 0), None)
        if fault is not None:
            fault.remaining -= 1
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return fault.status, {"code": "fault", "message": "injected by the test", "data": {"status": fault.status}}, headers
        if not self._authorised(query):
            return 401, {"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid.",
                         "data": {"status": 401}}, {}
        if store.read_only_key and method != "GET":  # a key created with Read permissions only
            return 401, {"code": "woocommerce_rest_cannot_create", "message": "Sorry, you are not allowed to create "
                         "resources.", "data": {"status": 401}}, {}
        try:
            return _route(store, method, path, {k: v[0] for k, v in query.items()}, body)
        except StoreError as error:
            return error.status, error.body(), {}

    def _authorised(self, query: dict) -> bool:
        """Basic auth (unless the host strips the header), or the keys as query parameters, as WooCommerce takes
        them over HTTPS."""
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic" and not self.store.strips_authorization:
            key, _, secret = base64.b64decode(value).decode().partition(":")
        else:
            key, secret = query.get("consumer_key", [""])[0], query.get("consumer_secret", [""])[0]
        return hmac.compare_digest(key, self.store.consumer_key) and hmac.compare_digest(secret, self.store.consumer_secret)

    def _json(self, status: int, payload: object, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, data: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _page(items: list, query: dict) -> tuple[int, list, dict]:
    per_page = min(int(query.get("per_page", 10)), 100)
    page = int(query.get("page", 1))
    pages = max(1, -(-len(items) // per_page))
    headers = {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)}
    return 200, items[(page - 1) * per_page: page * per_page], headers


def _route(store: WooCommerceStore, method: str, path: str, query: dict, body: dict) -> tuple[int, object, dict]:
    catalogue = store.catalogue
    if kind := re.fullmatch(r"/products/(categories|tags)", path):
        if method == "POST":
            return 201, catalogue.create_term(kind.group(1), body.get("name", ""), int(body.get("parent") or 0)), {}
        return _page(catalogue.search_terms(kind.group(1), query.get("search")), query)
    if path == "/products":
        if method == "POST":
            images = [{"id": catalogue.next_id(), "src": i["src"], "name": "", "alt": ""} for i in body.get("images", [])]
            product = catalogue.create_product(body, images)
            store.fire("product.created", product)
            return 201, product, {}
        return _page(catalogue.list_products(query.get("modified_after"), query.get("order", "desc")), query)
    if match := re.fullmatch(r"/products/(\d+)", path):
        product_id = int(match.group(1))
        if method == "PUT":
            product = catalogue.update_product(product_id, body)
            store.writes.setdefault(product_id, []).append(time.monotonic())
            store.fire("product.updated", product)
            return 200, product, {}
        if method == "DELETE":  # to the trash (`product.deleted` fires), or for good with force (no webhook fires)
            if query.get("force") == "true":
                return 200, catalogue.delete_product(product_id), {}
            product = catalogue.trash_product(product_id)
            store.fire("product.deleted", {"id": product_id})
            return 200, product, {}
        return 200, catalogue.view(product_id), {}
    if path == "/webhooks":
        if method == "POST":
            return 201, store.create_webhook(body).view(), {}
        return _page([w.view() for w in catalogue.webhooks.values()], query)
    if match := re.fullmatch(r"/webhooks/(\d+)", path):
        webhook = catalogue.webhooks.get(int(match.group(1)))
        if webhook is None:
            raise StoreError(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
        if method == "DELETE":
            if query.get("force") != "true":
                raise StoreError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
            del catalogue.webhooks[webhook.id]
        elif method == "PUT":
            for field in ("status", "delivery_url", "secret", "topic"):
                if body.get(field):
                    setattr(webhook, field, body[field])
            if body.get("status") == "active":
                webhook.failure_count = 0
        return 200, webhook.view(), {}
    raise StoreError(404, "rest_no_route", "No route was found matching the URL and request method.")
