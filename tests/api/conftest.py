"""Building the real app against the real nx-27017 server, and factories for shops and their credentials.

`client`: the app without models (accounts, keys, errors). `model_client`: the app with the in-process
inference client running the real handlers on the session's archives, and an image host it may fetch from.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest
from fastapi.testclient import TestClient
from pymongo import MongoClient

from api.core.settings import Settings
from api.data.db import open_client
from api.clients.in_process import InProcessClient
from api.jobs.backoff import Backoff
from api.jobs.runner import Options
from api.main import create_app
from api.jobs.reembed import ReembedJobs
from api.worker import job_kinds, run_jobs
from kalas.emulators.woocommerce import WooCommerceStore
from tests.support.data_dirs import files_under, image_dir_beside
from tests.support.image_host import ImageHost, start_image_host, stop_image_host

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "a long enough password"
T = TypeVar("T")


def on_database(mongo_server, mongo_database: str, scenario: Callable[[Any], Awaitable[T]]) -> T:
    """`scenario(db)` run in an event loop of its own against this test's database on the real nx-27017, through
    the API's own async client, opened and closed around it."""
    async def go() -> T:
        client = open_client(mongo_server.uri)
        try:
            return await scenario(client[mongo_database])
        finally:
            await client.close()

    return asyncio.run(go())


def make_settings(mongo_uri: str, database: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", "secret_key": SECRET, "mongo_uri": mongo_uri, "database": database}
    if "index_dir" in overrides and "image_dir" not in overrides:
        values["image_dir"] = image_dir_beside(Path(overrides["index_dir"]))
    return Settings(**(values | overrides))


def store_settings(mongo_server, mongo_database: str, tmp_path: Path, store: WooCommerceStore) -> Settings:
    """Test settings on the test's database and directories that let the started emulated `store` through."""
    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                         image_dir=tmp_path / "images", fetch_allow_origins=frozenset({f"127.0.0.1:{store.port}"}))


async def quiet_step(name: str, detail: str = "", fence: bool = False) -> None:
    """A job's step (api/jobs/runner.py `Step`) that records nothing: a job run by a test outside the runner."""


@dataclass
class Shop:
    """A signed-up shop with a console session and an API key."""

    email: str
    token: str
    key: str

    @property
    def session(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


def wait_for_jobs(settings: Settings, kind: str, timeout_s: float = 60.0) -> list[dict]:
    """Every job of `kind` once none is queued or running (the job runner of `model_app` does them)."""
    deadline = time.monotonic() + timeout_s
    with MongoClient(settings.mongo_uri) as mongo:
        while True:
            found = list(mongo[settings.database].jobs.find({"kind": kind}))
            if not any(job["state"] in ("queued", "running") for job in found):
                return found
            assert time.monotonic() < deadline, f"{kind} jobs still waiting after {timeout_s} s: {found}"
            time.sleep(0.05)


def image_files(settings: Settings) -> list[Path]:
    """The stored images' files (api/data/images.py), as the server keeps them."""
    return files_under(settings.image_dir)


def create_shop(client: TestClient, name: str = "shop-a") -> Shop:
    email = f"{name}@shops.example"
    signup = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "shop_name": name})
    assert signup.status_code == 201, signup.text
    token = signup.json()["token"]
    key = client.post("/api/v1/keys", json={"name": "script"}, headers={"Authorization": f"Bearer {token}"})
    assert key.status_code == 201, key.text
    return Shop(email=email, token=token, key=key.json()["secret"])


@pytest.fixture
def settings(mongo_server, mongo_database, tmp_path) -> Settings:
    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app, its lifespan run, against this test's own database (no models configured)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageHost]:
    host = start_image_host()
    yield host
    stop_image_host(host)


@pytest.fixture(scope="session")
def photos(shared_data: Path) -> list[bytes]:
    """Six real product photos of different garments."""
    images = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:6]
    return [path.read_bytes() for path in images]


@pytest.fixture
def model_settings(mongo_server, mongo_database, tmp_path, image_host) -> Settings:
    return make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                         fetch_allow_origins=frozenset({image_host.origin}))


# The worker's production semantics with short waits, so that retries resolve within a test's time.
QUICK_JOBS = Options(lanes=2, lease_s=10.0, idle_poll_s=0.02, backoff=Backoff(0.05, 0.2, 8))


@contextmanager
def running_jobs(client: TestClient, options: Options = QUICK_JOBS, reembed: dict | None = None) -> Iterator[None]:
    """The worker's job runner (api/worker.py) in the app's own event loop, over the app's own services;
    `reembed`: the re-embedding pass's options (batch, index_every_s)."""
    services = client.app.state.services
    kinds = job_kinds(services) | {"reembed": ReembedJobs(services, **(reembed or {}))}
    stop = client.portal.call(_event)
    running = client.portal.start_task_soon(run_jobs, services, options, stop, kinds)
    try:
        yield
    finally:
        client.portal.call(stop.set)
        running.result(timeout=60)


async def _event() -> asyncio.Event:
    return asyncio.Event()


@contextmanager
def model_app(settings: Settings, served_models, reembed: dict | None = None) -> Iterator[TestClient]:
    """The real app with the real handlers in-process (the session's archives), its lifespan run, and the worker's
    job runner beside it (callbacks, re-embedding)."""
    inference = InProcessClient(dict(served_models))
    try:
        with TestClient(create_app(settings, inference=inference)) as test_client, \
                running_jobs(test_client, reembed=reembed):
            yield test_client
    finally:
        asyncio.run(inference.aclose())


@pytest.fixture
def model_client(model_settings: Settings, served_models) -> Iterator[TestClient]:
    """The real app with the real handlers in-process and a fetchable image host."""
    with model_app(model_settings, served_models) as test_client:
        yield test_client


@pytest.fixture
def woo_store() -> Iterator[WooCommerceStore]:
    """A WooCommerce store emulator per test (it starts in milliseconds)."""
    store = WooCommerceStore().start()
    yield store
    store.stop()
