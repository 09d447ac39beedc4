"""Locust scenarios: shops using the API, a WooCommerce store sending webhook bursts, and TorchServe alone.

    Annotator          a shop's script annotating photos back to back (closed loop: it finds the capacity)
    Shopper            similar-item searches and catalogue writes (add, rename, delete) at a steady pace
    WebhookBurst       a WooCommerce store delivering signed `product.created` webhooks in bursts
    RateLimitProbe     one key sent past its rate limit on purpose: 429 with Retry-After is its success
    TorchServeAlone    the same photos straight to TorchServe's fashion-attributes: the baseline

load_tests/run.py starts the service, provisions shops and a store, writes the setup file and runs these.
Against a service already running, provision the same setup (see run.py's `provision`) and run:

    KALAS_LOAD_SETUP=setup.json locust -f load_tests/locustfile.py --headless -u 8 -r 8 -t 2m \
        --host http://127.0.0.1:8000 Annotator Shopper WebhookBurst RateLimitProbe
"""
from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
import uuid
from functools import cache
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, constant_throughput, events, task

# Nothing here may import torch: the seconds a heavy import blocks before the run shorten locust's `-t` timer.
from api.integrations.signature import sign
from load_tests.forms import multipart

API = "/api/v1"
_next_shop = itertools.count()
_tally_lock = threading.Lock()
# What the run saw beside locust's own statistics, written to the setup's report directory at the end.
tally: dict = {"versions": {}, "first_seen": {}, "deliberate_429": 0, "retry_after_missing": 0}


@cache
def setup() -> dict:
    return json.loads(Path(os.environ["KALAS_LOAD_SETUP"]).read_text())


@cache
def photos() -> list[bytes]:
    return [Path(path).read_bytes() for path in setup()["photos"]]


@cache
def annotate_bodies() -> list[tuple[bytes, dict[str, str]]]:
    return [multipart({}, [("file", photo)]) for photo in photos()]


def shop_headers() -> dict[str, str]:
    shops = setup()["shops"]
    return {"X-API-Key": shops[next(_next_shop) % len(shops)]["key"]}


def expect(response, status: int) -> dict | None:
    """Mark the response failed unless it has `status`; its JSON body when it has. A 429 is one failure of its
    own, whatever its message's wait says (the service's rate limit is below the run's load)."""
    if response.status_code == 429 and status != 429:
        response.failure("429: rate limited (the service's KALAS_RATE_LIMIT_PER_MINUTE is below this run's load)")
        return None
    if response.status_code != status:
        response.failure(f"{response.status_code} instead of {status}: {response.text[:300]}")
        return None
    response.success()
    return response.json() if response.text else {}


class Annotator(FastHttpUser):
    wait_time = constant(0)
    weight = 1

    def on_start(self) -> None:
        self.headers = shop_headers()

    @task
    def annotate(self) -> None:
        body, content_type = random.choice(annotate_bodies())
        with self.client.post(f"{API}/annotations", data=body, headers=self.headers | content_type,
                              name="annotate", catch_response=True) as response:
            answer = expect(response, 201)
            if response.status_code == 429:  # as a client does: waits as long as it is told before the next
                time.sleep(min(float(response.headers.get("Retry-After") or 1), 60.0))
            if answer is not None:
                version = answer["model"]["version"]
                with _tally_lock:
                    tally["versions"][version] = tally["versions"].get(version, 0) + 1
                    tally["first_seen"].setdefault(version, time.time())


class Shopper(FastHttpUser):
    fixed_count = 1
    wait_time = constant_throughput(1.0)

    def on_start(self) -> None:
        self.headers = {"X-API-Key": setup()["catalogue_shop"]["key"]}
        self.products: list[str] = []

    @task(6)
    def similar(self) -> None:
        body, content_type = multipart({"k": "10", "catalogue": "shop"}, [("file", random.choice(photos()))])
        with self.client.post(f"{API}/similar", data=body, headers=self.headers | content_type,
                              name="similar items", catch_response=True) as response:
            answer = expect(response, 200)
            if answer is not None and not answer["items"]:
                response.failure("no similar items in a catalogue that has products")

    @task(2)
    def add_product(self) -> None:
        """As a careful client adds: with an Idempotency-Key; one add in four is sent again, as after a lost answer,
        and must be answered with the same product, not make a second."""
        fields = {"title": f"load test product {uuid.uuid4().hex[:8]}"}
        body, content_type = multipart(fields, [("images", random.choice(photos()))])
        headers = self.headers | content_type | {"Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(f"{API}/products/upload", data=body, headers=headers, name="catalogue: add",
                              catch_response=True) as response:
            answer = expect(response, 201)
        if answer is None:
            return
        self.products.append(answer["id"])
        if random.random() < 0.25:
            with self.client.post(f"{API}/products/upload", data=body, headers=headers,
                                  name="catalogue: add sent again", catch_response=True) as response:
                again = expect(response, 201)
                if again is not None and (again["id"] != answer["id"]
                                          or response.headers.get("Idempotent-Replayed") != "true"):
                    response.failure(f"sent again, answered {again['id']} (first {answer['id']}) without the "
                                     "replayed answer")

    @task(1)
    def rename_product(self) -> None:
        if self.products:
            with self.client.patch(f"{API}/products/{random.choice(self.products)}", json={"title": "renamed"},
                                   headers=self.headers, name="catalogue: update", catch_response=True) as response:
                expect(response, 200)

    @task(1)
    def delete_product(self) -> None:
        if len(self.products) > 5:
            product = self.products.pop(0)
            with self.client.delete(f"{API}/products/{product}", headers=self.headers,
                                    name="catalogue: delete", catch_response=True) as response:
                expect(response, 204)


class WebhookBurst(FastHttpUser):
    """Each burst delivers the next products of the store at once, as a bulk import in wp-admin does."""

    fixed_count = 1
    wait_time = constant(30)
    _cursor = itertools.count()

    @task
    def burst(self) -> None:
        hook = setup()["webhooks"]
        products = hook["products"]
        batch = [products[next(self._cursor) % len(products)] for _ in range(hook["burst"])]
        gevent.joinall([gevent.spawn(self._deliver, hook, product) for product in batch])

    def _deliver(self, hook: dict, product: dict) -> None:
        body = json.dumps(product, separators=(",", ":")).replace("/", "\\/").encode()  # PHP's json_encode
        headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "product.created",
                   "X-WC-Webhook-Signature": sign(body, hook["secret"]),
                   "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex, "X-WC-Webhook-ID": str(hook["webhook_id"])}
        with self.client.post(hook["delivery_path"], data=body, headers=headers, name="webhook delivery",
                              catch_response=True) as response:
            answer = expect(response, 200)
            if answer is not None and answer.get("status") not in ("queued", "joined a waiting job", "already annotated"):
                response.failure(f"unexpected delivery outcome {answer}")


class RateLimitProbe(FastHttpUser):
    """Sends more than the burst allowance at once; the requests past it must be 429 with Retry-After."""

    fixed_count = 1
    wait_time = constant(45)

    @task
    def overrun(self) -> None:
        headers = {"X-API-Key": setup()["probe_key"]}
        gevent.joinall([gevent.spawn(self._one, headers) for _ in range(setup()["probe_requests"])])

    def _one(self, headers: dict[str, str]) -> None:
        with self.client.get(f"{API}/auth/me", headers=headers, name="rate-limit probe", catch_response=True) as response:
            if response.status_code == 429:
                with _tally_lock:
                    tally["deliberate_429"] += 1
                    tally["retry_after_missing"] += "Retry-After" not in response.headers
                response.success()
            else:
                expect(response, 200)


class TorchServeAlone(FastHttpUser):
    """The baseline: the same photos, as raw bytes, straight to TorchServe's default fashion-attributes
    (run with `--host` set to TorchServe's inference address)."""

    wait_time = constant(0)
    weight = 1

    def on_start(self) -> None:
        served = setup()["torchserve"]
        self.headers = {"Content-Type": "application/octet-stream"}
        if served.get("key"):
            self.headers["Authorization"] = f"Bearer {served['key']}"

    @task
    def annotate(self) -> None:
        with self.client.post("/predictions/fashion-attributes", data=random.choice(photos()),
                              headers=self.headers, name="torchserve: fashion-attributes", catch_response=True) as response:
            expect(response, 200)


@events.quitting.add_listener
def _write_tally(environment, **_kwargs) -> None:
    report_dir = setup().get("report_dir")
    if report_dir:
        (Path(report_dir) / "tally.json").write_text(json.dumps(tally, indent=1))
