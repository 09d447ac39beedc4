"""Model versions on a real TorchServe running the production configuration (token authorization on).

One session-scoped server: the archives at 1.0 plus fashion-attributes-1.1.mar in its model store.
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from api.clients.inference import TorchServeClient, torchserve_key
from api.main import create_app
from kalas.stack import torchserve as torchserve_script
from kalas.stack.production_torchserve import build_model_store, key_file, start_production_torchserve
from scripts.register_model import RegistrationError, TorchServeAdmin, main, read_archive, register
from tests.api.conftest import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_photo(shared_data: Path) -> bytes:
    return (shared_data / "fashion-products" / "images" / "10010.jpg").read_bytes()


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[tuple]:
    home = tmp_path_factory.mktemp("production-torchserve")
    store, next_archive = build_model_store(home, pytestconfig.getoption("--checkpoint"))
    server = start_production_torchserve(home, store)
    try:
        yield server, next_archive
    finally:
        torchserve_script.stop(server)


@pytest.fixture
def admin(production) -> TorchServeAdmin:
    server, _ = production
    return TorchServeAdmin(server.management_url, server.inference_url, key_file(server))


def predict_version(server, photo: bytes, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.inference_url}/predictions/fashion-attributes", content=photo, headers=headers, timeout=60)


def test_every_api_wants_its_key(production, sample_photo: bytes) -> None:
    server, _ = production
    keys = key_file(server)
    assert predict_version(server, sample_photo, None).status_code == 400
    assert predict_version(server, sample_photo, torchserve_key(keys, "management")).status_code == 400
    assert predict_version(server, sample_photo, torchserve_key(keys)).status_code == 200
    assert httpx.get(f"{server.management_url}/models", timeout=10).status_code == 400


def test_registration_takes_nothing_from_outside_the_model_store(admin: TorchServeAdmin, tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:9/evil.mar", f"file://{tmp_path}/elsewhere.mar"):
        with pytest.raises(RegistrationError, match="does not match any allowed URL"):
            admin._call("POST", "/models", params={"url": url, "model_name": "evil"})


def test_switch_under_load_fails_no_request_and_records_each_version(production, admin, sample_photo: bytes) -> None:
    server, next_archive = production
    archive = read_archive(next_archive)
    assert (archive.name, archive.version) == ("fashion-attributes", "1.1")
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    async def traffic() -> None:  # the API's own client, following TorchServe's key file
        client = TorchServeClient(server.inference_url, key_file=key_file(server))
        try:
            while not stop.is_set():
                for answer in await client.annotate([sample_photo] * 4):
                    if isinstance(answer, Exception):
                        failures.append(str(answer))
                    else:
                        seen.append(answer["model"]["version"])
        finally:
            await client.aclose()

    load = threading.Thread(target=asyncio.run, args=(traffic(),))
    load.start()
    try:
        old = register(admin, archive, check_image=None)
        after_switch = len(seen)
        while len(seen) < after_switch + 8 and load.is_alive():
            stop.wait(0.1)
    finally:
        stop.set()
        load.join(timeout=120)
    assert old == "1.0"
    assert failures == []
    assert seen[0] == "1.0" and seen[-8:] == ["1.1"] * 8
    assert admin.default("fashion-attributes")["modelVersion"] == "1.1"
    # The new version was given the serving version's batching, not TorchServe's defaults (batch size 1).
    versions = {v["modelVersion"]: v for v in admin.versions("fashion-attributes")}
    assert versions["1.1"]["batchSize"] == versions["1.0"]["batchSize"] > 1

    with pytest.raises(RegistrationError, match="already registered"):
        register(admin, archive)
    main(["--management-url", server.management_url, "--key-file", str(key_file(server)),
          "switch", "fashion-attributes", "1.0"])
    assert predict_version(server, sample_photo, torchserve_key(key_file(server))).json()["model"]["version"] == "1.0"


def test_the_api_follows_a_rotated_inference_key(production, sample_photo: bytes) -> None:
    server, _ = production
    keys = key_file(server)
    old_key = torchserve_key(keys)

    def rotate() -> None:
        main(["--management-url", server.management_url, "--key-file", str(keys), "rotate-key", "inference"])

    async def scenario() -> tuple:
        following = TorchServeClient(server.inference_url, key_file=keys)
        pinned = TorchServeClient(server.inference_url, token=old_key)
        try:
            before = (await following.annotate([sample_photo]))[0]
            rotate()
            return before, (await following.annotate([sample_photo]))[0], (await pinned.annotate([sample_photo]))[0]
        finally:
            await following.aclose()
            await pinned.aclose()

    before, after, stale = asyncio.run(scenario())
    assert torchserve_key(keys) != old_key
    assert before["model"]["name"] == after["model"]["name"] == "fashion-attributes"
    assert isinstance(stale, Exception) and stale.status == 400


def test_the_api_is_ready_against_production_torchserve(production, mongo_server, mongo_database, tmp_path) -> None:
    server, _ = production
    app = create_app(make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                                   inference_url=server.inference_url, torchserve_key_file=key_file(server)))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.json()["checks"]["models"]["ok"] is True, response.text
