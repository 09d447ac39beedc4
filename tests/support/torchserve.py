"""Fixtures: the archives built from the current handlers/ and checkpoints/, and a real TorchServe serving them.

    def test_something(torchserve):                 # a running server (session-scoped, free loopback ports)
        httpx.post(f"{torchserve.inference_url}/predictions/fashion-attributes", content=jpeg_bytes)

    def test_other(make_inference_client):          # the API's clients, built inside the test's event loop
        async def go():
            client = make_inference_client("torchserve")   # or "in-process"
            try:
                [annotation] = await client.annotate([jpeg_bytes])
            finally:
                await client.aclose()
        asyncio.run(go())

The archives are built once per session into a temporary model store (a few seconds), so tests always serve
the code under test, never a stale model_store/. TorchServe starts only when a test asks for it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from api.clients.inference import InferenceClient, TorchServeClient

from api.clients.in_process import InProcessClient
from handlers.archive import ATTRIBUTES, DEFAULT_CHECKPOINT, EMBEDDER, build_archives
from handlers.in_process import ServedModel, open_archive
from kalas.stack import torchserve as torchserve_script


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                     help="the default-model checkpoint the session's archives are built from")


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """A model store holding fashion-attributes.mar and fashion-embedder.mar built from the working tree."""
    checkpoint = pytestconfig.getoption("--checkpoint")
    if not (checkpoint / "meta.json").is_file():
        pytest.fail(f"no trained checkpoint at {checkpoint}: train one (python -m scripts.train) or pass --checkpoint")
    store = tmp_path_factory.mktemp("model_store")
    build_archives(store, checkpoint_dir=checkpoint)
    return store


@pytest.fixture(scope="session")
def torchserve(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[torchserve_script.Server]:
    """A real TorchServe with both archives loaded, ready; stopped (no process left) after the session."""
    server = torchserve_script.start(model_store, home=tmp_path_factory.mktemp("torchserve"))
    try:
        yield server
    finally:
        torchserve_script.stop(server)


@pytest.fixture(scope="session")
def served_models(model_store: Path) -> dict[str, ServedModel]:
    """The handlers loaded in this process from the same archives (shared by every in-process client)."""
    return {name: open_archive(model_store, name) for name in (ATTRIBUTES, EMBEDDER)}


@pytest.fixture(scope="session")
def make_inference_client(request: pytest.FixtureRequest) -> Callable[[str], InferenceClient]:
    """`make("torchserve")` or `make("in-process")`: a new client; the caller closes it with `aclose()`."""

    def make(kind: str) -> InferenceClient:
        if kind == "torchserve":
            return TorchServeClient(request.getfixturevalue("torchserve").inference_url)
        if kind == "in-process":
            return InProcessClient(dict(request.getfixturevalue("served_models")))
        raise ValueError(f"unknown inference client kind {kind!r}: use 'torchserve' or 'in-process'")

    return make
