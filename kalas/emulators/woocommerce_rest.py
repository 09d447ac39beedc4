"""The emulated WooCommerce store's HTTP side (kalas/emulators/woocommerce.py holds the store): its uploaded photos,
and the REST API v3 routes the integration calls, answered and paged as WordPress answers them, under /wp-json/ or
at index.php?rest_route= (Plain permalinks: only there), the keys checked as WooCommerce checks them (Basic auth
or the keys in the query only where WordPress sees HTTPS, otherwise an OAuth 1.0a signature), with the store's
switched-on faults (down, 5xx/429, a host that strips the Authorization header or refuses PUT, a cache that drops
the paging headers or ignores `page`, a challenge page instead of JSON, an answer that never ends)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, parse_qs, parse_qsl, quote, unquote_plus, urlsplit

from kalas.emulators.woocommerce_catalogue import StoreError

if TYPE_CHECKING:
    from kalas.emulators.woocommerce import WooCommerceStore

REST_PREFIX, API_ROUTE = "/wp-json", "/wc/v3"
LANGUAGES_ROUTE = "/pll/v1/languages"
_OAUTH_NAMES = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
_OAUTH_HEADER = re.compile(r'(oauth_[a-z_-]*)=(?:"([^"]*)"|([^,]*))')


def _rfc3986(text: str) -> str:
    """PHP's rawurlencode, as `wc_rest_urlencode_rfc3986` applies it."""
    return quote(text, safe="-._~")


def oauth_signature(method: str, address: str, params: dict[str, str], consumer_secret: str) -> str:
    """The signature WooCommerce expects (`check_oauth_signature`): HMAC (the `oauth_signature_method`'s) of the
    method, the address and the parameters (all but the signature, sorted by name, each name and value
    percent-encoded, then each pair again), keyed with the consumer secret and "&"."""
    signed = "&".join([method, _rfc3986(address), "%26".join(
        _rfc3986(f"{_rfc3986(name)}={_rfc3986(value)}") for name, value in sorted(params.items()))])
    algorithm = hashlib.sha1 if params["oauth_signature_method"] == "HMAC-SHA1" else hashlib.sha256
    return base64.b64encode(hmac.new(f"{consumer_secret}&".encode(), signed.encode(), algorithm).digest()).decode()


class RestHandler(BaseHTTPRequestHandler):
    """The store's HTTP side: its uploads, and the REST API v3 routes the integration uses, answered as WordPress
    answers them."""
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
        if store.moved_to is not None:
            return self._send(301, b"<html><body><h1>Moved Permanently</h1></body></html>",
                              {"Content-Type": "text/html", "Location": store.moved_to + self.path})
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if store.refuses_put_delete and method in ("PUT", "DELETE"):
            return self._send(501, b"<html><body><h1>Method Not Implemented</h1></body></html>",
                              {"Content-Type": "text/html"})
        query = parse_qs(url.query)
        sent_as = method
        if method == "POST":  # WP_REST_Server::serve_request: the method a POST stands for
            method = (query.get("_method", [None])[0] or self.headers.get("X-HTTP-Method-Override") or method).upper()
        if url.path.startswith("/wp-content/uploads/"):
            time.sleep(store.photo_delay_s)
            store.photo_requests.append(url.path.rsplit("/", 1)[1])
            data = store.uploads.get(url.path.rsplit("/", 1)[1])
            return self._send(200 if data else 404, data or b"not found", {"Content-Type": "image/jpeg"})
        # The REST API answers under /wp-json/ where the site's permalinks are rewritten, and at
        # index.php?rest_route= always; any other address is the theme's "page not found".
        route = query.get("rest_route", [""])[0] if url.path in ("/", "/index.php") else ""
        if not route and url.path.startswith(REST_PREFIX + "/") and not store.plain_permalinks:
            route = url.path[len(REST_PREFIX):]
        if not route:
            return self._send(404, b"<!DOCTYPE html><html><body><h1>Page not found</h1></body></html>",
                              {"Content-Type": "text/html; charset=UTF-8"})
        if route == LANGUAGES_ROUTE and (languages := store.polylang_languages()):
            return self._languages(languages)
        if not route.startswith(API_ROUTE + "/"):
            return self._json(404, {"code": "rest_no_route", "message": "No route was found.", "data": {"status": 404}})
        path = REST_PREFIX + route  # what the request log shows, however the route came
        if store.endless_answer_s is not None:
            return self._endless(store.endless_answer_s)
        time.sleep(store.api_delay_s)
        if store.blocks_api_clients:
            return self._send(403, b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
                                   b"<body><h1>Sorry, you have been blocked</h1></body></html>",
                              {"Content-Type": "text/html; charset=UTF-8"})
        if store.answers_html:
            store.api_requests.append((method, path, 200))
            return self._send(200, b"<!DOCTYPE html><html><body>Checking your browser before accessing the site."
                                   b"</body></html>", {"Content-Type": "text/html; charset=UTF-8"})
        if store.ignores_page:
            query.pop("page", None)
        if store.answer_with is not None and (answer := store.answer_with(method, path)) is not None:
            store.api_requests.append((method, path, 200))
            return self._json(200, answer[0], answer[1])
        status, payload, headers = self._api(method, route[len(API_ROUTE):], query, body, sent_as, url)
        store.api_requests.append((method, path, status))
        if store.strips_paging_headers:
            headers = {k: v for k, v in headers.items() if not k.startswith("X-WP-")}
        # WP_REST_Server::serve_request names the REST API's root, at the site's own address, on every answer.
        root = f"{store.url}/index.php?rest_route=/" if store.plain_permalinks else f"{store.url}{REST_PREFIX}/"
        self._json(status, payload, {"Link": f'<{root}>; rel="https://api.w.org/"', **headers})

    def _api(self, method: str, path: str, query: dict, body: dict, sent_as: str,
             url: SplitResult) -> tuple[int, object, dict]:
        store = self.store
        fault = next((f for f in store._faults if f.remaining > 0), None)
        if fault is not None:
            fault.remaining -= 1
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return fault.status, {"code": "fault", "message": "injected by the test", "data": {"status": fault.status}}, headers
        if refused := self._authentication_error(sent_as, url):
            code, message = refused
            return 401, {"code": code, "message": message, "data": {"status": 401}}, {}
        if store.read_only_key and method != "GET":  # a key created with Read permissions only
            return 401, {"code": "woocommerce_rest_authentication_error", "message": "The API key provided does not "
                         "have write permissions.", "data": {"status": 401}}, {}
        try:
            return _route(store, method, path, {k: v[0] for k, v in query.items()}, body)
        except StoreError as error:
            return error.status, error.body(), {}

    def _authentication_error(self, sent_as: str, url: SplitResult) -> tuple[str, str] | None:
        """None when WooCommerce would take the request's keys (WC_REST_Authentication::authenticate), else the
        code and message it answers: Basic auth or the keys in the query only when WordPress sees HTTPS
        (`store.sees_https`), then an OAuth 1.0a signature from the query or an `Authorization: OAuth` header."""
        store = self.store
        params = dict(parse_qsl(url.query, keep_blank_values=True))  # PHP's $_GET: the last of a repeated name
        header = self.headers.get("Authorization") or ""
        if store.strips_authorization:
            header = ""
        refused = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")  # nobody authenticated
        if store.sees_https:
            key, secret = params.get("consumer_key"), params.get("consumer_secret")
            if not (key and secret) and header[:6].lower() == "basic ":
                key, _, secret = base64.b64decode(header[6:] + "==").decode(errors="replace").partition(":")
            if key and secret and hmac.compare_digest(key, store.consumer_key):
                if hmac.compare_digest(secret, store.consumer_secret):
                    return None
                refused = ("woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        if header.startswith("OAuth "):
            params |= {name: unquote_plus(quoted or bare) for name, quoted, bare in _OAUTH_HEADER.findall(header)}
        if not any(params.get(name) for name in _OAUTH_NAMES):
            return refused
        if missing := [name for name in _OAUTH_NAMES if not params.get(name)]:
            return "woocommerce_rest_authentication_missing_parameter", f"Missing OAuth parameters {', '.join(missing)}"
        if not hmac.compare_digest(params["oauth_consumer_key"], store.consumer_key):
            return "woocommerce_rest_authentication_error", "Consumer key is invalid."
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid."
        given = params.pop("oauth_signature").replace(" ", "+")
        home = f"{'https' if store.sees_https else 'http'}://127.0.0.1:{store.port}"
        if not hmac.compare_digest(oauth_signature(sent_as, home + url.path, params, store.consumer_secret), given):
            return "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match."
        if not params["oauth_timestamp"].isdigit() or abs(int(params["oauth_timestamp"]) - time.time()) > 15 * 60:
            return "woocommerce_rest_authentication_error", "Invalid timestamp."
        if params["oauth_nonce"] in store.used_nonces:
            return "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."
        store.used_nonces.add(params["oauth_nonce"])
        return None

    def _languages(self, languages: list[str]) -> None:
        """Polylang's public list of the site's languages (polylang's `Languages` REST controller, 3.7+), the default
        first. Basic credentials on it are taken for an application password (WordPress 5.6 and later), which a
        WooCommerce key is not: 401, as WordPress answers."""
        if (self.headers.get("Authorization") or "").startswith("Basic "):
            return self._json(401, {"code": "incorrect_password", "message": "The provided password is an invalid "
                                    "application password.", "data": {"status": 401}})
        return self._json(200, [{"slug": lang, "name": lang, "locale": lang, "is_default": i == 0}
                                for i, lang in enumerate(languages)])

    def _endless(self, every_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            self.wfile.write(b"[")
            while True:
                self.wfile.write(b" " if every_s else b" " * 65536)
                self.wfile.flush()
                time.sleep(every_s)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status: int, payload: object, headers: dict | None = None) -> None:
        notice = (b"<br />\n<b>Deprecated</b>:  Creation of dynamic property Shop_Plugin::$cache is deprecated in "
                  b"<b>/var/www/html/wp-content/plugins/shop-plugin/shop.php</b> on line <b>42</b><br />\n"
                  if self.store.prints_php_notices else b"")
        self._send(status, notice + json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

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
        if method == "POST":  # a term made in the request's language (WPML: `?lang`; Polylang: `lang`, either way)
            return 201, catalogue.create_term(kind.group(1), body.get("name", ""), int(body.get("parent") or 0),
                                              query.get("lang") or body.get("lang")), {}
        return _page(catalogue.search_terms(kind.group(1), query.get("search"), query.get("lang")), query)
    if path == "/products":
        if method == "POST":
            images = [{"id": catalogue.next_id(), "src": i["src"], "name": "", "alt": ""} for i in body.get("images", [])]
            product = catalogue.create_product(body, images)
            store.saved("product.created", product, None)
            return 201, product, {}
        include = {int(i) for i in query["include"].split(",") if i.strip().isdigit()} if "include" in query else None
        return _page(catalogue.list_products(query.get("modified_after"), query.get("order", "desc"),
                                             query.get("lang"), query.get("status"), include), query)
    if match := re.fullmatch(r"/products/(\d+)", path):
        product_id = int(match.group(1))
        if method == "PUT":
            before = catalogue.get_product(product_id)["status"]
            product = catalogue.update_product(product_id, body)
            store.writes.setdefault(product_id, []).append(time.monotonic())
            store.saved("product.updated", product, before)
            store.synchronise_translations(product_id)
            time.sleep(store.put_answer_delay_s)
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
