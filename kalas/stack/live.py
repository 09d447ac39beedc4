"""The whole loop, running: an emulated WooCommerce store, real TorchServe behind a cuttable link, the API and
the worker as processes, one registered shop whose store webhooks point at the API."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx

from kalas.emulators.woocommerce import WooCommerceStore
from kalas.stack.service import Service, service_env
from kalas.stack.tcp_proxy import TcpProxy

WEBHOOK_SECRET = "the secret typed in the webhook form"
# Short lease and backoff so that faults resolve within a test's time; the semantics are the production ones.
WORKER_ARGS = ("--lanes", "4", "--lease", "4", "--backoff", "0.3", "--backoff-cap", "2", "--max-attempts", "12")


@dataclass
class Live:
    store: WooCommerceStore
    models: TcpProxy
    service: Service
    session: dict[str, str]
    api_key: dict[str, str]
    integration: dict
    photos: list[Path]

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, f"{self.service.url}/api/v1{path}", headers=self.session, timeout=30, **kwargs)

    def jobs(self, **params) -> list[dict]:
        response = self.api("GET", f"/integrations/{self.integration['id']}/jobs", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def jobs_of(self, product_id: int) -> list[dict]:
        return [job for job in self.jobs() if job["product_id"] == product_id]

    def done_job(self, product_id: int, timeout_s: float = 10.0) -> dict:
        """The product's one job once it is done. The worker records "done" just after the write-back that the
        store shows first (`annotated`), so a test that has seen the product waits for this, never races it."""
        def done() -> dict | None:
            [job] = self.jobs_of(product_id)
            return job if job["state"] == "done" else None

        return wait_for(done, timeout_s, lambda: f"the job of product {product_id} done: {self.jobs_of(product_id)}")

    def deliveries(self) -> list[dict]:
        response = self.api("GET", f"/integrations/{self.integration['id']}/deliveries", params={"limit": 200})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def annotated(self, product_id: int, timeout_s: float = 60.0) -> dict:
        """The product as the store has it once the service's marker is on it."""
        def done() -> dict | None:
            product = self.store.catalogue.view(product_id)
            return product if any(m["key"] == "kalas_iris" for m in product["meta_data"]) else None

        return wait_for(done, timeout_s, lambda: f"product {product_id} annotated; jobs: {self.jobs_of(product_id)}; "
                        f"deliveries: {[(d.topic, d.status) for d in self.store.deliveries]}")


def wait_for(check: Callable[[], object], timeout_s: float, what: str | Callable[[], str]) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for: {what() if callable(what) else what}")
        time.sleep(0.1)


def start_live(mongo_uri: str, database: str, home: Path, torchserve_url: str, photos: list[Path],
               stock: Callable[[WooCommerceStore], object] | None = None,
               worker_env: dict[str, str] | None = None) -> Live:
    """`stock`: fills the store before it is connected (its existing catalogue, which the connect imports);
    `worker_env`: the worker's own KALAS_* settings."""
    store = WooCommerceStore().start()
    if stock is not None:
        stock(store)
        time.sleep(1.1)  # connected after its products were made: the import takes what predates the connect (to the second)
    host, port = torchserve_url.split("://", 1)[1].rsplit(":", 1)
    models = TcpProxy(host, int(port)).start()
    env = service_env(mongo_uri, database, home / "indexes", [f"127.0.0.1:{store.port}"], models.url)
    service = Service(env, home)
    service.start_api()
    signup = httpx.post(f"{service.url}/api/v1/auth/signup", json={
        "email": "owner@woo.example", "password": "a long enough password", "shop_name": "Woo shop"})
    assert signup.status_code == 201, signup.text
    session = {"Authorization": f"Bearer {signup.json()['token']}"}
    key = httpx.post(f"{service.url}/api/v1/keys", json={"name": "tests"}, headers=session)
    integration = httpx.post(f"{service.url}/api/v1/integrations", headers=session, json={
        "store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
        "webhook_secret": WEBHOOK_SECRET})
    assert integration.status_code == 201, integration.text
    assert integration.json()["webhooks"]["state"] == "registered", integration.text  # through the store's REST API
    live = Live(store, models, service, session, {"X-API-Key": key.json()["secret"]}, integration.json(), photos)
    service.start_worker(*WORKER_ARGS, env=worker_env)
    return live


def stop_live(live: Live) -> None:
    live.service.stop()
    live.models.stop()
    live.store.stop()
