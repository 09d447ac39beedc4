"""A WooCommerce store for the tests and the webhook benchmark: a real HTTP server speaking the REST API v3 subset
the integration uses, that sends real signed webhooks, with faults to switch on (5xx, 429 with Retry-After, down).

Faithful where the integration could go wrong: the ck_/cs_ keys checked as WooCommerce checks them (an OAuth 1.0a
signature over plain HTTP, as this server is; Basic auth or the keys in the query where WordPress sees HTTPS),
`X-WP-Total`/`X-WP-TotalPages`, terms assigned by id only, term names answered HTML-escaped ("Tops &amp; Tees") and
searched as stored, `term_exists` (with the existing term's `resource_id`) on a duplicate name, and webhook
deliveries built as class-wc-webhook.php builds them — the body is PHP's `json_encode` (slashes escaped), signed as
base64(HMAC-SHA256(body, secret)), delivery ids are `hash(webhook id . current second)` (so two deliveries in one
second share an id), a webhook is pinged with a form body `webhook_id=<id>` when it is created and disabled after
more than 5 failures in a row, a product moved to the trash fires `product.deleted` with its id alone and stays
readable with status "trash" (left out of lists), a restored one fires `product.restored`, a scheduled product
(status "future") is published by `run_cron` as WordPress's cron does (its status alone, no `product.updated`),
`published_topic` (WooCommerce 10.8+) adds `product.published` on every change to "publish", a product saved
without a category is given the store's default category ("Uncategorized", in the site's language), and, with
`catalogue.languages` set, WPML's WooCommerce Multilingual: translations as products of their own (`lang`,
`translations`), listings in the request's language, an original's terms copied onto its translations (and with
`catalogue.lists_every_language`, Polylang for WooCommerce's listings of every language).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

import httpx
from PIL import Image

from kalas.emulators.woocommerce_catalogue import Catalogue, StoreError, Webhook
from kalas.emulators.woocommerce_rest import RestHandler

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
        # Whether WordPress sees its requests as HTTPS (`is_ssl()`): a store behind TLS takes Basic auth and the keys
        # in the query; this one is plain HTTP, so, as WooCommerce over HTTP, it takes only an OAuth 1.0a signature
        # (also what a store behind a proxy that ends TLS without telling WordPress takes).
        self.sees_https = False
        self.used_nonces: set[str] = set()
        self.refuses_put_delete = False
        # What a proxy or a cache in front of a store does: drop WordPress's own headers (`X-WP-Total`,
        # `X-WP-TotalPages`), answer every page of a listing with the first one, or a security plugin's challenge:
        # 200 with an HTML page instead of the REST API's JSON.
        self.strips_paging_headers = False
        self.ignores_page = False
        self.answers_html = False
        # A CDN's bot protection or a firewall in front of the store: every REST request answered 403 with its page.
        self.blocks_api_clients = False
        # A site that moved (to HTTPS, or from its bare domain to www): the web server answers every request 301 with
        # the same path and query at this address, as an .htaccess or nginx rule does, before WordPress sees it.
        self.moved_to: str | None = None
        # A broken or hostile store: its REST answers never end, streamed as fast as they go (0.0) or a byte every
        # so many seconds (a drip that keeps each read under a client's read time-out).
        self.endless_answer_s: float | None = None
        # A slow host (shared hosting under load, a heavy plugin): every REST answer this many seconds late.
        self.api_delay_s = 0.0
        # A store slow to answer a write it has made (a heavy save hook): the PUT is applied, its answer this late.
        self.put_answer_delay_s = 0.0
        # A live site that displays PHP's errors (display_errors on): a plugin's deprecation notice before every answer.
        self.prints_php_notices = False
        # Polylang before 3.7 has no public languages route (`polylang_languages`).
        self.polylang_before_3_7 = False
        # A broken or hostile store: `(method, path) -> (payload, headers)` answers a REST request with that JSON
        # and those headers, status 200, where it returns something (None: the store's own answer).
        self.answer_with: Callable[[str, str], tuple[object, dict] | None] | None = None
        # Plain permalinks (or a server that does not rewrite URLs): no /wp-json/ path; the REST API answers at
        # index.php?rest_route=/wc/v3/… only, and /wp-json/… is the theme's "page not found".
        self.plain_permalinks = False
        # WooCommerce 10.2 and later answer each product photo's `srcset` of smaller sizes; an older one, `src` alone.
        self.image_sizes = True
        # WooCommerce 10.8 and later have a product.published topic, fired whenever a product goes to "publish" from
        # another status (a new one, a draft, a scheduled one by WordPress's cron) beside product.created or .updated;
        # an older store refuses the topic. The tests' store is an older one unless they say otherwise.
        self.published_topic = False
        self.photo_requests: list[str] = []  # the file name of each photo fetched, in order

    # Life cycle.
    def start(self) -> "WooCommerceStore":
        self._listen()
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._sender.start()
        return self

    def _listen(self) -> None:
        store = self

        class Handler(RestHandler):
            pass

        Handler.store = store
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.catalogue.site_url = self.url
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

    def polylang_languages(self) -> list[str]:
        """A Polylang store's languages, its default first, as `GET /wp-json/pll/v1/languages` lists them; none for
        a store without Polylang (or with WPML), or with a Polylang before 3.7."""
        polylang = self.catalogue.lists_every_language and not self.polylang_before_3_7
        return list(self.catalogue.languages) if polylang else []

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
        """A photo uploaded to the media library, as a product's `images` shows it: `src`, the upload, and, as
        WooCommerce 10.2 and later answer (with `image_sizes`), the `srcset` of the smaller sizes WordPress made of
        it, `sizes` and `thumbnail`."""
        name = name or f"{secrets.token_hex(6)}.jpg"
        self.uploads[name] = data
        image = {"id": self.catalogue.next_id(), "src": f"{self.url}/wp-content/uploads/{name}", "name": name, "alt": ""}
        if self.image_sizes:
            image |= self._sizes(name, data, image["src"])
        return image

    def _sizes(self, name: str, data: bytes, src: str) -> dict:
        """WordPress's intermediate sizes of an upload (medium 300×300, medium_large 768 wide, large 1024×1024,
        1536×1536 and 2048×2048, each made only when smaller than the upload, in its shape) and the `srcset` of them
        and of the upload itself up to 2,048 pixels wide (`max_srcset_image_width`); an upload that is no image has
        none (`wp_get_attachment_image_srcset` answers false, which the REST API casts to "")."""
        try:
            with Image.open(io.BytesIO(data)) as opened:
                photo = opened.convert("RGB")
        except (OSError, ValueError):
            return {"srcset": "", "sizes": "", "thumbnail": src}
        width, height = photo.size
        stem = name.rsplit(".", 1)[0]
        candidates = {}
        for box_w, box_h in ((300, 300), (768, 10**6), (1024, 1024), (1536, 1536), (2048, 2048)):
            scale = min(box_w / width, box_h / height)
            size = (round(width * scale), round(height * scale))
            if scale < 1 and size not in candidates:
                sized = f"{stem}-{size[0]}x{size[1]}.jpg"
                buffer = io.BytesIO()
                photo.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=82)
                self.uploads[sized] = buffer.getvalue()
                candidates[size] = f"{self.url}/wp-content/uploads/{sized}"
        if width <= 2048:
            candidates[(width, height)] = src
        srcset = ", ".join(f"{url} {w}w" for (w, _), url in candidates.items())
        thumbnail = next(iter(candidates.values()), src)
        return {"srcset": srcset, "sizes": f"(max-width: {width}px) 100vw, {width}px", "thumbnail": thumbnail}

    def create_product(self, name: str, photos: list[bytes] = (), categories: list[str] = (),
                       tags: list[str] = (), lang: str | None = None, scheduled_for: dt.datetime | None = None) -> dict:
        """`lang`: in a WPML store (`catalogue.languages`), the language it is written in (else the default);
        `scheduled_for`: a scheduled product (status "future"), which `run_cron` publishes once that time has come."""
        fields = {"name": name,
                  "categories": [{"id": self.catalogue.term_or_create("categories", c)["id"]} for c in categories],
                  "tags": [{"id": self.catalogue.term_or_create("tags", t)["id"]} for t in tags]}
        if scheduled_for is not None:
            fields |= {"status": "future", "date_created_gmt": scheduled_for.strftime("%Y-%m-%dT%H:%M:%S")}
        product = self.catalogue.create_product(fields, [self.upload(p) for p in photos], lang)
        self.saved("product.created", product, None)
        return product

    def run_cron(self) -> list[dict]:
        """WordPress's cron publishing the scheduled products whose time has come (`wp_publish_post`): the status
        changes alone (not `date_modified`), and no webhook fires but product.published (WooCommerce 10.8+)."""
        published = self.catalogue.publish_due()
        for product in published:
            self.fire("product.published", product)
        return published

    def translate_product(self, product_id: int, lang: str, name: str) -> dict:
        """WPML's translation of a product: a new product, which fires `product.created` like any other."""
        product = self.catalogue.translate_product(product_id, lang, name)
        self.saved("product.created", product, None)
        return product

    def synchronise_translations(self, product_id: int) -> None:
        """After an original is saved, WooCommerce Multilingual gives its translations its terms: each one saved
        fires `product.updated` too."""
        for translation in self.catalogue.synchronise_translations(product_id):
            self.fire("product.updated", translation)

    def create_variable_product(self, name: str, photos: list[bytes], options: list[str]) -> tuple[dict, list[dict]]:
        """A variable product (a tee in sizes) and a variation per option, each with a photo of its own: WooCommerce
        fires `product.created` for the parent and for every variation (`woocommerce_new_product_variation`); a
        variation reads as a product of type "variation" with its `parent_id`, and has no categories or tags."""
        parent = self.catalogue.create_product({"name": name, "type": "variable"}, [self.upload(p) for p in photos[:1]])
        self.saved("product.created", parent, None)
        variations = []
        for option, photo in zip(options, photos):
            variation = self.catalogue.create_product({"name": f"{name} - {option}", "type": "variation",
                                                       "parent_id": parent["id"]}, [self.upload(photo)])
            self.saved("product.created", variation, None)
            variations.append(variation)
        return parent, variations

    def edit_product(self, product_id: int, fields: dict) -> dict:
        before = self.catalogue.get_product(product_id)["status"]
        product = self.catalogue.update_product(product_id, fields)
        self.saved("product.updated", product, before)
        self.synchronise_translations(product_id)
        return product

    def trash_product(self, product_id: int) -> None:
        """"Move to Trash" in wp-admin: `product.deleted` fires (WooCommerce hooks it to `wp_trash_post`) with the
        product's id alone, as WC_Webhook::build_payload sends a deleted resource."""
        self.catalogue.trash_product(product_id)
        self.fire("product.deleted", {"id": product_id})

    def restore_product(self, product_id: int) -> dict:
        """"Restore" from the trash: `product.restored` fires (`untrashed_post`) with the whole product, a draft
        (WordPress 5.6 and later restore a post as a draft: `wp_untrash_post_status`)."""
        product = self.catalogue.update_product(product_id, {"status": "draft"})
        self.fire("product.restored", product)
        return product

    def create_webhook(self, fields: dict) -> Webhook:
        """Through the REST API, as class-wc-rest-webhooks-v1-controller.php does: saved, then pinged; the ping's
        answer does not matter. The topic checked as `wc_is_webhook_valid_topic` does: a resource and an event."""
        topic = str(fields.get("topic", ""))
        events = ("created", "updated", "deleted", "restored") + (("published",) if self.published_topic else ())
        resource, _, event = topic.partition(".")
        if resource not in ("product", "order", "coupon", "customer") or event not in events:
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
    def saved(self, topic: str, product: dict, before: str | None) -> None:
        """`topic` for a product saved with status `before` (None: a new one); first, when it went to "publish" from
        another status, product.published (`wp_transition_post_status` runs inside the save)."""
        if product.get("status") == "publish" and before != "publish":
            self.fire("product.published", product)
        self.fire(topic, product)

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
