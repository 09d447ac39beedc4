"""The batch reindex on a tiny real catalogue (real photos from ../shared/data, the real embedder in-process)."""
from __future__ import annotations

import asyncio
import csv
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import pytest

from api.clients.inference import Embedded, InferenceClient, InferenceError, TorchServeClient
from index import CatalogueStore
from kalas.readers import DirectoryReader
from scripts import reindex as reindex_script
from scripts.reindex import EmbedderFailed, reindex

ROOT = Path(__file__).resolve().parents[2]
N_GOOD = 12


def make_catalogue(root: Path, shared_data: Path, n: int = N_GOOD) -> Path:
    """`n` real product photos in the shared-data layout, plus one row whose file is not an image."""
    source = shared_data / "fashion-products"
    with open(source / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:n]
    (root / "images").mkdir(parents=True)
    for row in rows:
        shutil.copy(source / "images" / f"{row['id']}.jpg", root / "images" / f"{row['id']}.jpg")
    rows.append({**rows[0], "id": "broken"})
    (root / "images" / "broken.jpg").write_bytes(b"this is not a JPEG, whatever its name says")
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


class RecordingClient:
    """The real client, noting the digest of every image it is asked to embed."""

    def __init__(self, inner: InferenceClient) -> None:
        self.inner = inner
        self.seen: list[str] = []

    async def embed(self, images: Sequence[bytes]) -> list[Embedded | InferenceError]:
        self.seen += [hashlib.sha256(image).hexdigest() for image in images]
        return await self.inner.embed(images)

    async def aclose(self) -> None:
        await self.inner.aclose()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(make_inference_client: Callable[[str], InferenceClient], job: Callable) -> object:
    async def go() -> object:
        client = RecordingClient(make_inference_client("in-process"))
        try:
            return await job(client), client.seen
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.slow
def test_reindex_indexes_every_readable_image_and_reports_the_rest(
    tmp_path: Path, shared_data: Path, make_inference_client: Callable[[str], InferenceClient]
) -> None:
    data = make_catalogue(tmp_path / "data", shared_data)
    reader = list(DirectoryReader(data))
    (data / "images" / f"{reader[1].product_id}.jpg").unlink()  # listed, then gone before it is read
    store = CatalogueStore(tmp_path / "indexes")
    summary, seen = run(make_inference_client,
                        lambda client: reindex(reader, client, store, "shop", batch_size=4, concurrency=2, progress=False))
    assert (summary.images, summary.embedded, summary.resumed) == (N_GOOD + 1, N_GOOD - 1, 0)
    reasons = {s["product"]: s["reason"] for s in summary.skipped}
    assert reasons.keys() == {reader[1].product_id, "broken"}
    assert "could not read the image: FileNotFoundError" in reasons[reader[1].product_id]
    assert "refused by the embedder" in reasons["broken"]
    assert len(seen) == N_GOOD  # the broken file was sent, the vanished one could not be
    index = CatalogueStore(tmp_path / "indexes").get("shop")
    assert len(index) == N_GOOD - 1 and index.kind == "flat"
    assert index.category_of(reader[0].product_id) == "skirt"  # the taxonomy's label, not the data set's "Skirts"
    assert not (store.directory("shop") / reindex_script.JOURNAL).exists()
    # Each photo finds itself first: the stored vectors are the embedder's for that very image.
    async def self_search(client: InferenceClient) -> list[str]:
        paths = [data / "images" / f"{item.product_id}.jpg" for item in reader[2:6]]
        vectors = await client.embed([p.read_bytes() for p in paths])
        return [index.search(v.vector, k=1)[0].product_id for v in vectors]
    found, _ = run(make_inference_client, self_search)
    assert found == [item.product_id for item in reader[2:6]]


@pytest.mark.slow
def test_a_killed_reindex_resumes_without_embedding_any_image_twice(
    tmp_path: Path, shared_data: Path, model_store: Path, make_inference_client: Callable[[str], InferenceClient]
) -> None:
    data = make_catalogue(tmp_path / "data", shared_data, n=24)
    indexes = tmp_path / "indexes"
    journal = indexes / "shop" / reindex_script.JOURNAL
    command = [sys.executable, "-m", "scripts.reindex", str(data), "--catalogue", "shop", "--indexes", str(indexes),
               "--model-store", str(model_store), "--batch-size", "2", "--concurrency", "1"]
    # Killed, the child cannot remove the archives it unpacked: they go under tmp_path, which pytest clears.
    scratch = tmp_path / "child-tmp"
    scratch.mkdir()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=os.environ | {"TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 240
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 6):
            assert child.poll() is None, "the reindex ended before it could be interrupted"
            assert time.monotonic() < deadline, "the reindex journaled nothing in time"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    journaled = journal.read_bytes().count(b"\n")
    assert 6 <= journaled < 25
    store = CatalogueStore(indexes)
    assert store.get("shop") is None  # nothing swapped in by the killed run
    summary, seen = run(make_inference_client,
                        lambda client: reindex(DirectoryReader(data), client, store, "shop", progress=False))
    assert summary.resumed == journaled and summary.resumed + summary.embedded + len(summary.skipped) == 25
    already = {digest(p) for p in (data / "images").iterdir()} - set(seen)
    assert len(seen) == 25 - journaled and len(already) == journaled  # each image sent exactly once over both runs
    assert len(store.get("shop")) == 24


@pytest.mark.slow
def test_the_command_exits_3_when_something_was_skipped(tmp_path: Path, shared_data: Path, model_store: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    data = make_catalogue(tmp_path / "data", shared_data, n=3)
    status = reindex_script.main([str(data), "--catalogue", "c", "--indexes", str(tmp_path / "ix"),
                                  "--model-store", str(model_store), "--json", str(tmp_path / "summary.json")])
    out = capsys.readouterr().out
    assert status == reindex_script.EXIT_SKIPPED
    assert "3 products, 4 images" in out and "skipped broken/broken.jpg: refused by the embedder" in out
    assert '"embedded": 3' in (tmp_path / "summary.json").read_text()


def test_an_unreachable_embedder_stops_the_job_and_keeps_its_journal(tmp_path: Path, shared_data: Path) -> None:
    data = make_catalogue(tmp_path / "data", shared_data, n=2)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = CatalogueStore(tmp_path / "indexes")

    async def go() -> None:
        client = TorchServeClient(f"http://127.0.0.1:{port}", timeout=5)
        try:
            await reindex(DirectoryReader(data), client, store, "shop", progress=False)
        finally:
            await client.aclose()

    with pytest.raises(EmbedderFailed, match="did not answer"):
        asyncio.run(go())
    assert store.get("shop") is None
    assert (store.directory("shop") / reindex_script.JOURNAL).exists()
