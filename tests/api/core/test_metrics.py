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


def test_with_the_console_its_pages_are_one_series_and_misses_are_unmatched(client: TestClient) -> None:
    """The console's catch-all route answers every path the API does not: its pages count as `console`, what it
    does not have (a missing file, an unversioned API path) as `unmatched`, as without a console."""
    assert client.get("/annotate").status_code == 200
    assert client.get("/assets/none.js").status_code == 404
    assert client.get("/api/nothing").status_code == 404
    samples = scrape(client)
    assert count(samples, "GET", "console", "200") == 1 and count(samples, "GET", "unmatched", "404") == 2


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
    assert after[("kalas_jobs_read_ok", ())] == 1


def test_every_kind_of_job_is_counted_with_what_waits_for_later_apart(client: TestClient, settings) -> None:
    """`kalas_jobs{kind,state}`: a job due now is `queued`, one queued for later (a retry's backoff, a scheduled
    round) `waiting`, so an idle service's scheduled jobs are no backlog; `kalas_webhook_jobs` stays the products'."""
    async def fill() -> None:
        mongo = open_client(settings.mongo_uri)
        try:
            db = mongo[settings.database]
            await jobs.enqueue_kind(db, "callback", "acct", "callback:1", "an event", {"event": "e1"})
            await jobs.enqueue_kind(db, "housekeeping", None, "housekeeping", "daily", delay_s=3600)
            await jobs.enqueue(db, "acct", "integration-1", 7, "product.created")
        finally:
            await mongo.close()

    asyncio.run(fill())
    samples = scrape(client)
    found = {(dict(labels)["kind"], dict(labels)["state"]): value for (name, labels), value in samples.items()
             if name == "kalas_jobs" and value}
    assert found == {("callback", "queued"): 1, ("housekeeping", "waiting"): 1, ("product", "queued"): 1}, found
    assert samples[("kalas_webhook_jobs", (("state", "queued"),))] == 1


def test_a_database_that_does_not_answer_fails_no_scrape(client: TestClient) -> None:
    """The database away (here: a port nothing listens on): /metrics still answers at once with the request
    figures, the job figures as they last were and `kalas_jobs_read_ok` 0."""
    import time

    services = client.app.state.services
    database = services.db
    object.__setattr__(services, "db", open_client("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=20000")["away"])
    try:
        started = time.monotonic()
        samples = scrape(client)
        assert time.monotonic() - started < 3
    finally:
        object.__setattr__(services, "db", database)
    assert samples[("kalas_jobs_read_ok", ())] == 0 and ("kalas_http_requests_in_flight", ()) in samples


def test_a_request_while_the_database_is_away_is_a_503_to_retry(client: TestClient) -> None:
    shop = create_shop(client)
    services = client.app.state.services
    database = services.db
    object.__setattr__(services, "db", open_client("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300")["away"])
    try:
        answer = client.get("/api/v1/products", headers=shop.headers)
    finally:
        object.__setattr__(services, "db", database)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", answer.text
    assert answer.json()["error"] == {"code": "database_unavailable", "message": (
        "the service's database cannot be reached right now; retry in 5 s")}
    assert client.get("/api/v1/products", headers=shop.headers).status_code == 200  # back: no restart needed


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
