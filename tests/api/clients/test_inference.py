"""The inference client: TorchServe over HTTP and in-process give the same answers and the same failures."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from api.clients.inference import InferenceError, TorchServeClient

from api.clients.in_process import InProcessClient
from handlers.archive import DEFAULT_CHECKPOINT, EMBEDDER, build_archives
from handlers.in_process import open_archive
from handlers.models.fashion import WEIGHTS_FILE
from kalas.stack.torchserve import free_ports
from tests.support import images as make
from tests.support.annotations import assert_same_annotation


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[bytes]:
    clothing = sorted((shared_data / "clothing" / "images").glob("*.jpg"))[2:4]
    products = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[2:4]
    return [p.read_bytes() for p in clothing + products]


async def _both(make_inference_client, call):
    served, local = make_inference_client("torchserve"), make_inference_client("in-process")
    try:
        return await call(served), await call(local)
    finally:
        await served.aclose()
        await local.aclose()


@pytest.mark.slow
def test_both_clients_annotate_and_embed_alike(make_inference_client, photos):
    async def run(client):
        return await client.annotate(photos), await client.embed(photos)

    (served_annotations, served_embeddings), (local_annotations, local_embeddings) = asyncio.run(
        _both(make_inference_client, run)
    )
    assert len(served_annotations) == len(local_annotations) == len(photos)
    for served, local in zip(served_annotations, local_annotations):
        assert_same_annotation(served, local)
    for served, local, annotation in zip(served_embeddings, local_embeddings, local_annotations):
        assert served.vector.dtype == local.vector.dtype == np.float32 and served.vector.shape == local.vector.shape == (256,)
        assert np.allclose(served.vector, local.vector, atol=1e-5)
        assert abs(float(np.linalg.norm(served.vector)) - 1.0) < 1e-5
        # The signals travel beside the vector, the same from both paths and from both models.
        assert served.signals.dtype == local.signals.dtype == np.float32 and served.signals.shape == (122,)
        assert np.allclose(served.signals, local.signals, atol=1e-5)
        assert np.allclose(local.signals, annotation["signals"], atol=1e-5)


@pytest.mark.slow
def test_a_refused_image_is_an_inference_error_and_the_others_are_answered(make_inference_client, photos):
    batch = [photos[0], make.not_an_image(), make.png_bomb(), photos[1]]
    served, local = asyncio.run(_both(make_inference_client, lambda client: client.annotate(batch)))
    for answers in (served, local):
        assert isinstance(answers[0], dict) and isinstance(answers[3], dict)
        assert isinstance(answers[1], InferenceError) and answers[1].status == 400
        assert "not an image" in answers[1].message
        assert isinstance(answers[2], InferenceError) and answers[2].status == 413
        assert "too many pixels" in answers[2].message
    assert served[1].message == local[1].message and served[2].message == local[2].message
    embedded = asyncio.run(_both(make_inference_client, lambda client: client.embed([make.truncated_jpeg_bytes(photos[0])])))
    for (answer,) in embedded:
        assert isinstance(answer, InferenceError) and answer.status == 400 and "truncated" in answer.message


@pytest.mark.slow
def test_more_photos_at_once_than_torchserve_queues_are_all_answered(make_inference_client, photos):
    # TorchServe queues 100 requests per model and refuses more with 503 "has no worker to serve inference
    # request": what a demo-gallery reindex (4 batches of 32 in flight) got before the client bounded its
    # requests in flight.
    async def run():
        client = make_inference_client("torchserve")
        try:
            return await client.embed([photos[i % len(photos)] for i in range(160)])
        finally:
            await client.aclose()

    answers = asyncio.run(run())
    refused = [a for a in answers if isinstance(a, InferenceError)]
    assert refused == [] and len(answers) == 160


def test_an_unreachable_torchserve_is_a_503_per_image():
    (port,) = free_ports(1)

    async def run():
        client = TorchServeClient(f"http://127.0.0.1:{port}", timeout=5)
        try:
            return await client.annotate([b"a", b"b"])
        finally:
            await client.aclose()

    answers = asyncio.run(run())
    assert all(isinstance(a, InferenceError) and a.status == 503 and "did not answer" in a.message for a in answers)


@pytest.mark.slow
def test_in_process_client_from_checkpoints_matches_the_archives(make_inference_client, photos, pytestconfig):
    async def run():
        staged = InProcessClient.from_checkpoints(pytestconfig.getoption("--checkpoint"))
        archived = make_inference_client("in-process")
        try:
            return await staged.annotate(photos[:2]), await archived.annotate(photos[:2])
        finally:
            await staged.aclose()
            await archived.aclose()

    staged, archived = asyncio.run(run())
    assert staged == archived  # same process, same batch: identical to the last digit


class _SwitchingModels(dict):
    """A model store in which the embedder is replaced after its first batch: a model switch landing between
    two images of one call."""

    def __init__(self, models: dict, replacement) -> None:
        super().__init__(models)
        self._replacement = replacement

    def __getitem__(self, name):
        served = super().__getitem__(name)
        if name == EMBEDDER:
            self[name] = self._replacement
        return served


@pytest.mark.slow
def test_vectors_of_two_embedders_in_one_call_name_no_embedder(served_models, tmp_path, photos):
    # Another build of the embedder: the committed checkpoint with one head weight changed, so another digest.
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(DEFAULT_CHECKPOINT, checkpoint)
    state = torch.load(checkpoint / WEIGHTS_FILE, map_location="cpu")
    first = next(key for key, value in state.items() if key.startswith("heads.") and value.is_floating_point())
    state[first] = state[first] + 1e-3
    torch.save(state, checkpoint / WEIGHTS_FILE)
    build_archives(tmp_path / "store", checkpoint_dir=checkpoint)
    other = open_archive(tmp_path / "store", EMBEDDER)

    async def run(models):
        client = InProcessClient(models, max_batch=1)
        try:
            vectors = await client.embed(photos[:2])
            return vectors, client.embedder
        finally:
            await client.aclose()

    _, one = asyncio.run(run(dict(served_models)))
    _, replaced = asyncio.run(run({EMBEDDER: other}))
    assert one["digest"] != replaced["digest"] and one["name"] == replaced["name"] == EMBEDDER
    vectors, mixed = asyncio.run(run(_SwitchingModels(served_models, other)))
    assert all(v.vector.shape == (256,) and v.signals.shape == (122,) for v in vectors)
    assert mixed is None  # stored as of no known embedder: api/domain/reembedder.py makes them again
