"""A WooCommerce store for the tests and the webhook benchmark: a real HTTP server speaking the REST API v3 subset
the integration uses, that sends real signed webhooks, with faults to switch on (5xx, 429 with Retry-After, down).

Faithful where the integration could go wrong: Basic auth with ck_/cs_ keys, `X-WP-Total`/`X-WP-TotalPages`,
terms assigned by id only, term names answered HTML-escaped ("Tops &amp; Tees") and searched as stored, `term_exists`
(with the existing term's `resource_id`) on a duplicate name, and webhook deliveries built as class-wc-webhook.php
builds them — the body is PHP's `json_encode` (slashes escaped), signed as base64(HMAC-SHA256(body, secret)),
delivery ids are `hash(webhook id . current second)` (so two deliveries in one second share an id), a webhook is
pinged with a form body `webhook_id=<id>` when it is created and disabled after more than 5 failures in a row, a
product moved to the trash fires `product.deleted` with its id alone and stays readable with status "trash" (left
out of lists), a restored one fires `product.restored`, and a product saved without a category is given the
store's default category ("Uncategorized", in the site's language).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

from kalas.emulators.woocommerce_catalogue import Catalogue, StoreError, Webhook

API = "/wp-json/wc/v3"
MAX_FAILURES = 5


@dataclass
class Delivery:
    webhook_id: int
    topic: str
    body: bytes
    headers: dict[str, str]
    status: int | None = None  # None: the delivery URL could not be reached
    sent_at: float = 0.0  # time.monotonic() when the POST started
    answered_s: float | None = None  # how long the delivery URL took to answer


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: float | None = None


class WooCommerceStore:
    def __init__(self, updated_grace_s: float = 0.0, default_category: str | None = "Uncategorized") -> None:
        self.consumer_key = "ck_" + secrets.token_hex(20)
        self.consumer_secret = "cs_" + secrets.token_hex(20)
        # Real WooCommerce skips `product.updated` within 10 s of creation (WC_Webhook::is_new_resource);
        # tests default to 0 so that the service's own write-back does fire it, the harder case.
        self.updated_grace_s = updated_grace_s
        self.catalogue = Catalogue(default_category=default_category)  # "Unkategorisiert" in a German store
        self.uploads: dict[str, bytes] = {}
        self.deliveries: list[Delivery] = []
        self.api_requests: list[tuple[str, str, int]] = []
        self.writes: dict[int, list[float]] = {}  # product id → time.monotonic() of each PUT through the API
        self._faults: list[Fault] = []
        self._outbox: queue.Queue = queue.Queue()
        # One client for every delivery: a client per request builds a TLS context each time, which cost this
        # process ~40 ms of CPU a delivery (py-spy; most of a 2,000-product burst's CPU on two cores).
        self._deliverer = httpx.Client(timeout=60)
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.down = False
        self.photo_delay_s = 0.0  # a slow image host: keeps a job busy long enough to kill its worker
        self.read_only_key = False  # the merchant gave a key with Read permissions only: every write is refused
        # Hosts that WooCommerce's documentation warns about: PHP under CGI/FastCGI that never sees the
        # Authorization header (the keys then work only as `consumer_key`/`consumer_secret` query parameters), and a
        # firewall such as ModSecurity that answers PUT and DELETE "501 Method Not Implemented" (WordPress reads a
        # POST with `?_method=PUT` or `X-HTTP-Method-Override: PUT` as a PUT).
        self.strips_authorization = False
        self.refuses_put_delete = False
        # What a proxy or a cache in front of a store does: drop WordPress's own headers (`X-WP-Total`,
        # `X-WP-TotalPages`), answer every page of a listing with the first one, or a security plugin's challenge:
        # 200 with an HTML page instead of the REST API's JSON.
        self.strips_paging_headers = False
        self.ignores_page = False
        self.answers_html = False

    # Life cycle.
    def start(self) -> "WooCommerceStore":
        self._listen()
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._sender.start()
        return self

    def _listen(self) -> None:
        store = self

        class Handler(_Handler):
            pass

        Handler.store = store
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._outbox.put(None)
        self._close()
        self._deliverer.close()

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def go_down(self) -> None:
        """Stop answering: the port closes and open keep-alive connections are dropped."""
        self.down = True
        self._close()

    def come_up(self) -> None:
        self.down = False
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, times: int, retry_after: float | None = None) -> None:
        """Answer the next `times` REST API requests with `status` (and `Retry-After` when given)."""
        self._faults.append(Fault(status, times, retry_after))

    # What a merchant does in wp-admin; each fires the store's webhooks like the real hooks do.
    def upload(self, data: bytes, name: str | None = None) -> dict:
        name = name or f"{secrets.token_hex(6)}.jpg"
        self.uploads[name] = data
        return {"id": self.catalogue.next_id(), "src": f"{self.url}/wp-content/uploads/{name}", "name": name, "alt": ""}

    def create_product(self, name: str, photos: list[bytes] = (), categories: list[str] = (),
                       tags: list[str] = ()) -> dict:
        fields = {"name": name,
                  "categories": [{"id": self.catalogue.term_or_create("categories", c)["id"]} for c in categories],
                  "tags": [{"id": self.catalogue.term_or_create("tags", t)["id"]} for t in tags]}
        product = self.catalogue.create_product(fields, [self.upload(p) for p in photos])
        self.fire("product.created", product)
        return product

    def create_variable_product(self, name: str, photos: list[bytes], options: list[str]) -> tuple[dict, list[dict]]:
        """A variable product (a tee in sizes) and a variation per option, each with a photo of its own: WooCommerce
        fires `product.created` for the parent and for every variation (`woocommerce_new_product_variation`); a
        variation reads as a product of type "variation" with its `parent_id`, and has no categories or tags."""
        parent = self.catalogue.create_product({"name": name, "type": "variable"}, [self.upload(p) for p in photos[:1]])
        self.fire("product.created", parent)
        variations = []
        for option, photo in zip(options, photos):
            variation = self.catalogue.create_product({"name": f"{name} - {option}", "type": "variation",
                                                       "parent_id": parent["id"]}, [self.upload(photo)])
            self.fire("product.created", variation)
            variations.append(variation)
        return parent, variations

    def edit_product(self, product_id: int, fields: dict) -> dict:
        product = self.catalogue.update_product(product_id, fields)
        self.fire("product.updated", product)
        return product

    def trash_product(self, product_id: int) -> None:
        """"Move to Trash" in wp-admin: `product.deleted` fires (WooCommerce hooks it to `wp_trash_post`) with the
        product's id alone, as WC_Webhook::build_payload sends a deleted resource."""
        self.catalogue.trash_product(product_id)
        self.fire("product.deleted", {"id": product_id})

    def restore_product(self, product_id: int) -> dict:
        """"Restore" from the trash: `product.restored` fires (`untrashed_post`) with the whole product."""
        product = self.catalogue.update_product(product_id, {"status": "publish"})
        self.fire("product.restored", product)
        return product

    def create_webhook(self, fields: dict) -> Webhook:
        """Through the REST API, as class-wc-rest-webhooks-v1-controller.php does: saved, then pinged; the ping's
        answer does not matter."""
        topic = str(fields.get("topic", ""))
        if topic.split(".")[0] not in ("product", "order", "coupon", "customer") or "." not in topic:
            raise StoreError(400, "woocommerce_rest_shop_webhook_invalid_topic", "Webhook topic is required and must be valid.")
        url = str(fields.get("delivery_url", ""))
        if not url.startswith(("http://", "https://")):
            raise StoreError(400, "woocommerce_rest_shop_webhook_invalid_delivery_url",
                             "Webhook delivery URL must be a valid URL starting with http:// or https://.")
        webhook = Webhook(self.catalogue.next_id(), topic, url, fields.get("secret") or secrets.token_urlsafe(37),
                          status=fields.get("status") or "active")
        self.catalogue.webhooks[webhook.id] = webhook
        try:
            httpx.post(url, content=f"webhook_id={webhook.id}".encode(), timeout=10,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        except httpx.HTTPError:
            pass
        return webhook

    def add_webhook(self, topic: str, delivery_url: str, secret: str) -> Webhook:
        """Create a webhook as wp-admin does: it is saved only if the ping to the delivery URL answers 200."""
        webhook = Webhook(self.catalogue.next_id(), topic, delivery_url, secret)
        response = httpx.post(delivery_url, content=f"webhook_id={webhook.id}".encode(), timeout=10,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status_code != 200:
            raise StoreError(400, "woocommerce_webhook_ping_failed",
                             f"Error: Delivery URL returned response code: {response.status_code}")
        self.catalogue.webhooks[webhook.id] = webhook
        return webhook

    # Webhook delivery (asynchronous, one at a time, as Action Scheduler runs them).
    def fire(self, topic: str, product: dict) -> None:
        resource, event = topic.split(".")
        if event == "updated" and self._is_new(product):
            return
        for webhook in list(self.catalogue.webhooks.values()):
            if webhook.topic == topic and webhook.status == "active":
                self._outbox.put((webhook, product))

    def _is_new(self, product: dict) -> bool:
        created = time.mktime(time.strptime(product["date_created_gmt"], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        return time.time() - self.updated_grace_s <= created

    def signed_delivery(self, webhook: Webhook, payload: dict) -> Delivery:
        # PHP's json_encode escapes "/" — the signature covers exactly these bytes, not a re-encoding.
        body = json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()
        signature = base64.b64encode(hmac.new(webhook.secret.encode(), body, hashlib.sha256).digest()).decode()
        resource, event = webhook.topic.split(".")
        headers = {"Content-Type": "application/json", "User-Agent": "WooCommerce/9.0 Hookshot (WordPress/6.5)",
                   "X-WC-Webhook-Source": f"{self.url}/", "X-WC-Webhook-Topic": webhook.topic,
                   "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
                   "X-WC-Webhook-Signature": signature, "X-WC-Webhook-ID": str(webhook.id),
                   "X-WC-Webhook-Delivery-ID": hashlib.md5(f"{webhook.id}{int(time.time())}".encode()).hexdigest()}
        return Delivery(webhook.id, webhook.topic, body, headers)

    def send(self, webhook: Webhook, delivery: Delivery) -> Delivery:
        delivery.sent_at = time.monotonic()
        try:
            delivery.status = self._deliverer.post(webhook.delivery_url, content=delivery.body,
                                                   headers=delivery.headers).status_code
            delivery.answered_s = time.monotonic() - delivery.sent_at
        except httpx.HTTPError:
            delivery.status = None
        self.deliveries.append(delivery)
        if delivery.status is not None and 200 <= delivery.status < 303:
            webhook.failure_count = 0
        elif webhook.failure_count > MAX_FAILURES:
            webhook.status = "disabled"
        else:
            webhook.failure_count += 1
        return delivery

    def _send_loop(self) -> None:
        while (item := self._outbox.get()) is not None:
            webhook, product = item
            self.send(webhook, self.signed_delivery(webhook, product))
            self._outbox.task_done()

    def wait_for_deliveries(self) -> None:
        self._outbox.join()


class _Handler(BaseHTTPRequestHandler):
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
