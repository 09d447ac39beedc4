"""The console's end-to-end fixtures: the real service on a free port, and Debian's Chromium driven by Playwright.

The service is the API app (which serves the built console, web/dist, at "/") run by uvicorn on a free loopback
port, against the session's real nx-27017 server, with the models run in-process on the session's archives,
a real image host for catalogue imports and the WooCommerce emulator (a shop's store: a peer we do not own).
The browser is /usr/bin/chromium (installed by `make browser`):
Playwright drives it through `executable_path` and never downloads one of its own.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import uvicorn
from pymongo import MongoClient

from api.core.settings import Settings
from api.main import create_app
from kalas.emulators.woocommerce import WooCommerceStore
from kalas.stack.service import Service as Processes
from tests.api.conftest import make_settings
from tests.support.image_host import ImageHost, start_image_host, stop_image_host
from tests.web.browser import CHROMIUM, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "web"


@dataclass
class Service:
    url: str
    settings: Settings
    model_store: Path
    image_host: ImageHost
    store: WooCommerceStore

    def api(self, path: str) -> str:
        return f"{self.url}/api/v1{path}"


def _serve(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start; see the log above")
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="session")
def inference(make_inference_client: Callable[[str], Any]) -> Iterator[Any]:
    """The models in this process, on the session's archives (tests/support/torchserve.py builds them from the
    checkpoint; `--checkpoint DIR` picks another): the same handler code TorchServe runs."""
    client = make_inference_client("in-process")
    yield client
    # Playwright's sync API keeps an event loop current in this thread, so close the client on a thread of its own.
    closer = threading.Thread(target=lambda: asyncio.run(client.aclose()))
    closer.start()
    closer.join(timeout=60)


@pytest.fixture(scope="session")
def service(mongo_server, model_store: Path, inference, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with serve_console(mongo_server, model_store, inference, tmp_path_factory.mktemp("indexes")) as running:
        yield running


@contextmanager
def serve_console(mongo_server, model_store: Path, inference, index_dir: Path) -> Iterator[Service]:
    """The real service with the console on a free loopback port, its own database, image host and store."""
    if not (DIST / "index.html").is_file():
        pytest.fail(f"the console is not built ({DIST} has no index.html): run `make web` (npm ci && npm run build in web/)")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    host = start_image_host()
    store = WooCommerceStore().start()
    database = f"web_e2e_{time.monotonic_ns() % 10**9}"
    settings = make_settings(mongo_server.uri, database, index_dir=index_dir,
                             web_dist=DIST,
                             fetch_allow_origins=frozenset({host.origin, store.url.removeprefix("http://")}))
    app = create_app(settings, inference=inference)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server, thread = _serve(app, sock)
    try:
        yield Service(f"http://127.0.0.1:{sock.getsockname()[1]}", settings, model_store, host, store)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        stop_image_host(host)
        store.stop()
        with MongoClient(mongo_server.uri, serverSelectionTimeoutMS=2000) as client:
            client.drop_database(database)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def desktop(browser, service: Service) -> Iterator[Any]:
    """A fresh browser context (no storage shared with other tests) at desktop size."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser, service: Service) -> Iterator[Any]:
    """A phone-sized touch context (390×844, touch events, mobile viewport)."""
    context = browser.new_context(base_url=service.url, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


@dataclass
class Shop:
    email: str
    password: str
    token: str


def create_shop(service: Service, name: str) -> Shop:
    """A shop signed up through the API (tests of other pages start signed in)."""
    email = f"{name}-{time.monotonic_ns() % 10**9}@shops.example"
    password = "a long enough password"
    response = httpx.post(service.api("/auth/signup"), json={"email": email, "password": password, "shop_name": name})
    assert response.status_code == 201, response.text
    return Shop(email, password, response.json()["token"])


def sign_in(page: Any, service: Service, name: str, path: str = "/annotate") -> Shop:
    """Log a new shop in through the console's log-in form and open `path`."""
    shop = create_shop(service, name)
    page.goto("/login")
    page.get_by_label("E-mail").fill(shop.email)
    page.get_by_label("Password").fill(shop.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Annotate a photo").wait_for()
    if path != "/annotate":
        page.get_by_role("navigation", name="Console").get_by_role("link", name=re.compile(_TITLES[path])).click()
    return shop


_TITLES = {"/account": "Account", "/queue": "Review queue", "/similar": "Similar items", "/reviews": "Past reviews", "/catalogue": "Catalogue",
           "/integrations": "Integrations", "/keys": "API keys", "/shop-model": "Shop model"}


def screenshot(page: Any, name: str) -> None:
    """Save the page at desktop and at phone width under test-artifacts/web/ (not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")  # a sticky header is drawn where the page was scrolled to
        page.wait_for_timeout(150)  # let layout settle after the resize
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth") - viewport["width"]
        wide = page.evaluate("""(w) => Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > w + 1).slice(0, 6).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""", viewport["width"])
        assert overflow <= 0, f"{name} is {overflow}px wider than the {label} screen: {wide}"
    page.set_viewport_size(size)


def shared_photo(shared_data: Path, folder: str, index: int = 0) -> Path:
    photos = sorted((shared_data / folder / "images").glob("*.jpg"))
    assert photos, f"no photos in {shared_data / folder / 'images'}"
    return photos[index]


@pytest.fixture
def store(service: Service) -> WooCommerceStore:
    """The session's store: the service was started allowed to reach it (store URLs on private addresses are refused)."""
    return service.store


@pytest.fixture
def worker(service: Service, store: WooCommerceStore, tmp_path: Path) -> Iterator[Processes]:
    """`python -m api.worker` on the service's database and models, allowed to reach the emulated store."""
    settings = service.settings
    env = {"KALAS_ENVIRONMENT": "test", "KALAS_SECRET_KEY": settings.secret_key, "KALAS_MONGO_URI": settings.mongo_uri,
           "KALAS_DATABASE": settings.database, "KALAS_INDEX_DIR": str(settings.index_dir),
           "KALAS_IMAGE_DIR": str(settings.image_dir),
           "KALAS_MODEL_STORE": str(service.model_store),
           "KALAS_FETCH_ALLOW_ORIGINS": store.url.removeprefix("http://"), "PYTHONUNBUFFERED": "1"}
    processes = Processes({k: v for k, v in os.environ.items() if not k.startswith("KALAS_")} | env, tmp_path)
    processes.start_worker("--lanes", "1", "--backoff", "0.3", "--backoff-cap", "1", "--max-attempts", "3")
    yield processes
    processes.stop()
