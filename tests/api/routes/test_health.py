"""Liveness and readiness against real dependencies: nx-27017, TorchServe, the index directory; and their failures."""
from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.core.settings import Settings
from api.main import create_app
from index import CatalogueStore
from tests.api.conftest import make_settings
from tests.support.mongo import free_port, start_mongo, stop_mongo


def _nobody_serving(settings: Settings) -> Settings:
    """Settings whose TorchServe address answers nothing (a free port): the app opens and closes the client."""
    return settings.model_copy(update={"inference_url": f"http://127.0.0.1:{free_port()}"})


def test_liveness_needs_nothing_outside_the_process(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_not_ready_without_models_and_says_which_setting_to_fix(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["mongodb"]["ok"] and body["checks"]["index"]["ok"] and body["checks"]["images"]["ok"]
    assert body["checks"]["models"] == {"ok": False, "error": "RuntimeError: no model is configured: set "
                                        "KALAS_INFERENCE_URL or KALAS_MODEL_STORE"}


def test_not_ready_while_torchserve_does_not_answer(settings) -> None:
    with TestClient(create_app(_nobody_serving(settings))) as client:
        models = client.get("/readyz").json()["checks"]["models"]
    assert models["ok"] is False and "did not answer" in models["error"]


@pytest.mark.slow
def test_ready_with_mongodb_torchserve_and_the_index(settings, torchserve) -> None:
    with TestClient(create_app(settings.model_copy(update={"inference_url": torchserve.inference_url}))) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())
    assert body["checks"]["index"] == body["checks"]["index"] | {"catalogues": 0, "demo_gallery": False}


def test_the_demo_gallery_is_loaded_and_a_corrupt_one_is_not_ready(settings, tmp_path) -> None:
    store = CatalogueStore(settings.index_dir)
    vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    store.get_or_create(settings.demo_catalogue, dim=8).upsert("p1", vectors, images=["a", "b", "c"])
    store.save(settings.demo_catalogue)
    with TestClient(create_app(_nobody_serving(settings))) as client:
        index = client.get("/readyz").json()["checks"]["index"]
    assert index["ok"] and index["demo_gallery"] is True and index["catalogues"] == 1

    store.path(settings.demo_catalogue).write_bytes(b"not an index")
    with TestClient(create_app(_nobody_serving(settings))) as client:
        index = client.get("/readyz").json()["checks"]["index"]
    assert index["ok"] is False and index["error"]


@pytest.mark.parametrize("check, setting", [("index", "index_dir"), ("images", "image_dir")])
def test_not_ready_when_a_data_directory_cannot_be_made(settings, tmp_path, check, setting) -> None:
    """A data directory that cannot be made at the start stops it, naming the setting (api/services.py); one lost
    while the service runs (a volume gone) makes it not ready."""
    import shutil

    from api.services import UnusableDirectory

    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(UnusableDirectory, match=f"KALAS_{setting.upper()}=.*a-file/data cannot be used"):
        with TestClient(create_app(settings.model_copy(update={setting: blocker / "data"}))):
            pass
    data = tmp_path / "lost"
    with TestClient(create_app(settings.model_copy(update={setting: data}))) as client:
        shutil.rmtree(data)
        data.write_text("in the way")
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks[check]["ok"] is False and "lost" in checks[check]["error"]
    assert all(checks[name]["ok"] for name in ("mongodb", "index", "images") if name != check)


@pytest.mark.slow
def test_not_ready_while_mongodb_is_down_and_ready_again_after(tmp_path, mongo_database) -> None:
    process, server = start_mongo(tmp_path / "own-mongo")
    settings = make_settings(server.uri, mongo_database, index_dir=tmp_path / "indexes")
    try:
        with TestClient(create_app(_nobody_serving(settings))) as client:
            assert client.get("/readyz").json()["checks"]["mongodb"]["ok"] is True
            stop_mongo(process)
            down = client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["mongodb"]["ok"] is False
            assert client.get("/healthz").status_code == 200, "liveness must not depend on the database"
    finally:
        if process.poll() is None:
            stop_mongo(process)
