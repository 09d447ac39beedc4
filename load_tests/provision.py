"""What the load needs in the running service: shops with keys, a seeded catalogue, a rate-limit probe key, and a
WooCommerce store with products and webhooks pointing at the shop's delivery URL."""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.clients.inference import torchserve_key
from kalas.dataset import read_records, shared_data, split
from load_tests.stack import RATE_LIMIT_BURST, Stack

WEBHOOK_SECRET = "load-test webhook secret"
CATALOGUE_PRODUCTS = 12
STORE_PRODUCTS = 200
BURST = 10


def load_photos(per_set: int = 32) -> list[Path]:
    """Validation photos of both data sets: product shots (224x224) and people's photos (400x533)."""
    photos: list[Path] = []
    for name in ("fashion-products", "clothing"):
        _, validation = split(read_records(shared_data() / name))
        photos += [record.image for record in validation[:per_set]]
    return photos


def new_shop(api: httpx.Client, name: str) -> dict[str, str]:
    signup = api.post("/api/v1/auth/signup", json={"email": f"{name}@load.example", "password": "load test password",
                                                   "shop_name": name})
    signup.raise_for_status()
    session = {"Authorization": f"Bearer {signup.json()['token']}"}
    key = api.post("/api/v1/keys", json={"name": "load"}, headers=session)
    key.raise_for_status()
    return {"key": key.json()["secret"], "token": signup.json()["token"]}


def provision(stack: Stack, home: Path, shops: int = 8) -> dict:
    photos = load_photos()
    with httpx.Client(base_url=stack.api_url, timeout=60) as api:
        annotating = [new_shop(api, f"shop-{i}") for i in range(shops)]
        catalogue = new_shop(api, "catalogue-shop")
        for i in range(CATALOGUE_PRODUCTS):
            photo = photos[i % len(photos)]
            added = api.post("/api/v1/products/upload", headers={"X-API-Key": catalogue["key"]},
                             data={"title": f"seed {i}", "sku": f"seed-{i}"},
                             files={"images": (photo.name, photo.read_bytes(), "image/jpeg")})
            added.raise_for_status()
        probe = new_shop(api, "probe-shop")
        woo = new_shop(api, "woo-shop")
        # Products first, the store connected after (its webhooks are registered then): these products reach the
        # service only through the load's deliveries.
        products = [stack.store.create_product(f"store product {i}", [photos[i % len(photos)].read_bytes()])
                    for i in range(STORE_PRODUCTS)]
        integration = api.post("/api/v1/integrations", headers={"Authorization": f"Bearer {woo['token']}"}, json={
            "store_url": stack.store.url, "consumer_key": stack.store.consumer_key,
            "consumer_secret": stack.store.consumer_secret, "webhook_secret": WEBHOOK_SECRET})
        integration.raise_for_status()
    delivery_url = integration.json()["delivery_url"]
    webhook = next(w for w in stack.store.catalogue.webhooks.values()
                   if w.topic == "product.created" and w.delivery_url == delivery_url)
    return {
        "photos": [str(p) for p in photos],
        "shops": [{"key": s["key"]} for s in annotating],
        "catalogue_shop": {"key": catalogue["key"]},
        "probe_key": probe["key"],
        # Sent at once; at most ~20 tokens refill while the API answers them, so about 20 must be refused.
        "probe_requests": RATE_LIMIT_BURST + 40,
        "webhooks": {"delivery_path": urlsplit(delivery_url).path, "secret": WEBHOOK_SECRET, "webhook_id": webhook.id,
                     "products": [stack.store.catalogue.view(p["id"]) for p in products], "burst": BURST},
        "torchserve": {"inference_url": stack.torchserve.inference_url, "key": torchserve_key(stack.key_file)},
        "report_dir": str(home),
    }


def job_states(api_url: str) -> dict[str, float]:
    text = httpx.get(f"{api_url}/metrics", timeout=10).text
    return {s.labels["state"]: s.value for family in text_string_to_metric_families(text)
            if family.name == "kalas_webhook_jobs" for s in family.samples}


def wait_for_queue(stack: Stack, timeout_s: float) -> dict[str, float]:
    """The queue's states once no job is queued or running (or when `timeout_s` has passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = job_states(stack.api_url)
        if states.get("queued", 0) + states.get("running", 0) == 0 or time.monotonic() > deadline:
            return states
        time.sleep(1)
