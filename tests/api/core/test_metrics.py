"""Prometheus metrics from the real app: latency by route template, queue depth and outcomes from the real queue."""
from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.data import jobs
from api.data.db import open_client
from api.main import create_app
from tests.api.conftest import create_shop


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from /metrics, parsed as Prometheus parses it."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def count(samples: dict, method: str, route: str, status: str) -> float:
    labels = tuple(sorted({"method": method, "route": route, "status": status}.items()))
    return samples.get(("kalas_http_request_duration_seconds_count", labels), 0.0)


def test_latency_is_labelled_by_route_template_not_by_raw_path(client: TestClient) -> None:
    shop = create_shop(client)
    listed = client.get("/api/v1/keys", headers=shop.headers).json()
    key_ids = [item["id"] for item in listed["items"]]
    for key_id in key_ids:
        assert client.get(f"/api/v1/keys/{key_id}", headers=shop.headers).status_code == 200
    missing = "0" * 24  # an id in the API's form that names no key
    assert client.get(f"/api/v1/keys/{missing}", headers=shop.headers).status_code == 404

    samples = scrape(client)
    assert count(samples, "GET", "/api/v1/keys/{key_id}", "200") == len(key_ids)
    assert count(samples, "GET", "/api/v1/keys/{key_id}", "404") == 1
    assert count(samples, "POST", "/api/v1/auth/signup", "201") == 1
    assert not any(missing in str(labels) or any(k in str(labels) for k in key_ids) for _, labels in samples)


def test_unrouted_paths_share_one_series(settings, tmp_path) -> None:
    without_console = settings.model_copy(update={"web_dist": tmp_path / "no-console"})
    paths = ("/api/v1/nothing-here", "/api/v1/other/thing", "/wp-login.php")
    with TestClient(create_app(without_console)) as client:
        for path in paths:
            assert client.get(path).status_code == 404
        samples = scrape(client)
    routes = {dict(labels)["route"] for name, labels in samples if name.startswith("kalas_http_request_duration")}
    assert count(samples, "GET", "unmatched", "404") == len(paths)
    assert not routes & set(paths)


def test_queue_depth_and_outcomes_come_from_the_job_queue(client: TestClient, settings) -> None:
    async def fill() -> None:
        mongo = open_client(settings.mongo_uri)
        try:
            db = mongo[settings.database]
            for product in (1, 2, 3):
                await jobs.enqueue(db, "acct", "integration-1", product, "product.created")
            claimed = await jobs.claim(db, "worker-a", lease_s=60)
            await jobs.finish(db, claimed, "annotated")
            claimed = await jobs.claim(db, "worker-a", lease_s=60)
            await jobs.dead_letter(db, claimed, "store answered 401 five times")
        finally:
            await mongo.close()

    before = scrape(client)
    assert before[("kalas_webhook_jobs", (("state", "queued"),))] == 0
    asyncio.run(fill())
    after = scrape(client)
    states = {dict(labels)["state"]: value for (name, labels), value in after.items() if name == "kalas_webhook_jobs"}
    assert states == {"queued": 1, "running": 0, "done": 1, "dead": 1, "superseded": 0}


def test_each_app_counts_only_its_own_requests(settings) -> None:
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        for _ in range(3):
            first.get("/healthz")
        second.get("/healthz")
        assert count(scrape(first), "GET", "/healthz", "200") == 3
        assert count(scrape(second), "GET", "/healthz", "200") == 1


def test_requests_in_flight_are_counted_while_answering(client: TestClient) -> None:
    # The scrape itself is the one request being answered when the gauge is read.
    assert scrape(client)[("kalas_http_requests_in_flight", ())] == 1
