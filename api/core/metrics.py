"""Prometheus metrics of the API, served at `/metrics` beside TorchServe's own (its metrics address).

- `kalas_http_request_duration_seconds{method,route,status}`: latency by route *template* (`/api/v1/products/{id}`),
  never by raw path, so that ids do not make a new time series each.
- `kalas_http_requests_in_flight`: requests being answered now.
- `kalas_jobs{kind,state}`: the durable queue by kind of job and state, read from MongoDB at scrape time. The worker
  is another process (often several): the database is the one place that knows every job, so queue depth
  (`queued`: due now; `waiting`: queued for later, a retry's backoff or a scheduled round; `running`) and
  outcomes (`done`, `dead`, `superseded`) come from there, not from one process's counters.
- `kalas_webhook_jobs{state}`: the same for the WooCommerce products' jobs (kind `product`) alone, as stored
  (`queued` counts those waiting too).
- `kalas_jobs_read_ok`: 1 when the last scrape read the queue, 0 when the database did not answer within
  JOBS_READ_S (the job figures then keep their last values; the request figures are served all the same).

Each app gets its own registry (no global state at import), so tests and several apps in one process never mix.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from pymongo.errors import PyMongoError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.data import jobs
from api.deps import services_of

# Annotating one photo takes tens of milliseconds; a batch or a slow image download takes seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_STATES = (jobs.QUEUED, jobs.RUNNING, jobs.DONE, jobs.DEAD, jobs.SUPERSEDED)
JOBS_READ_S = 1.0  # a scrape waits this long for the queue's figures: the database down must not fail /metrics
UNMATCHED = "unmatched"  # any path no route answers: one series, whatever was asked for
CONSOLE = "console"  # a page or file of the console, served by its catch-all route
log = logging.getLogger(__name__)


class Metrics:
    """The app's metric families, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "kalas_http_request_duration_seconds", "Time to answer an HTTP request, by route template and status.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge("kalas_http_requests_in_flight", "HTTP requests being answered.", registry=self.registry)
        self.queue = Gauge("kalas_webhook_jobs", "WooCommerce products' jobs in the queue, by state.", ["state"],
                          registry=self.registry)
        self.jobs = Gauge("kalas_jobs", "Jobs of the durable queue by kind and state (queued: due now; waiting: "
                                        "queued for later).", ["kind", "state"], registry=self.registry)
        self.jobs_read = Gauge("kalas_jobs_read_ok", "1 when the last scrape read the job queue from the database.",
                               registry=self.registry)

    async def refresh_jobs(self, db: Any) -> None:
        """Set the job gauges from the queue (every known state reported, 0 when no job is in it); left as they were,
        and `kalas_jobs_read_ok` 0, when the database does not answer within JOBS_READ_S."""
        try:
            found = await asyncio.wait_for(jobs.kind_state_counts(db, time.time()), JOBS_READ_S)
        except (TimeoutError, PyMongoError) as error:
            log.warning("the job figures were not read for /metrics: %s", type(error).__name__)
            self.jobs_read.set(0)
            return
        self.jobs_read.set(1)
        for kind in {kind for kind, _ in found} | {"product"}:
            counts = {state: 0 for state in (*JOB_STATES, jobs.WAITING)} | {
                state: n for (of, state), n in found.items() if of == kind}
            for state, count in counts.items():
                self.jobs.labels(kind, state).set(count)
            if kind == "product":
                for state in JOB_STATES:
                    self.queue.labels(state).set(counts[state] + (counts[jobs.WAITING] if state == jobs.QUEUED else 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_template(scope: Scope, status: int = 200) -> str:
    """The matched route's path template, with the prefix it was included under (`/api/v1` + `/keys/{key_id}`);
    the console's catch-all is `console` for what it serves and `unmatched` for what it does not (a 404).

    The router records the route in the scope, but a route included with a prefix keeps its own template; the
    prefix is the part of the request path in front of the part the route's pattern matched.
    """
    route = scope.get("route")
    template, pattern = getattr(route, "path_format", None), getattr(route, "path_regex", None)
    if template is None or pattern is None:
        return UNMATCHED
    if template == "/{path}":  # api/core/spa.py
        return UNMATCHED if status == 404 else CONSOLE
    path = scope.get("path", "")
    for cut in (i for i, char in enumerate(path) if char == "/"):
        if pattern.match(path[cut:]):
            return path[:cut] + template
    return template


class MetricsMiddleware:
    """Times every HTTP request (a plain ASGI middleware: no per-request task or body buffering)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers if the app raises before starting its response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.latency.labels(scope["method"], route_template(scope, status), str(status)).observe(
                time.perf_counter() - started)


def install_metrics(app: FastAPI) -> None:
    """Measure every request of `app` and serve the figures at `/metrics` (outside the shops' API)."""
    figures = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=figures)

    @app.get("/metrics", include_in_schema=False, tags=["operations"])
    async def metrics(request: Request) -> Response:
        await figures.refresh_jobs(services_of(request).db)
        return Response(figures.render(), media_type=CONTENT_TYPE_LATEST)
