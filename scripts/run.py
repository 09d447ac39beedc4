"""The README's run command (`make run`): the product on embedded defaults.

For now: build the archives if they are missing, start TorchServe on free loopback ports, annotate a sample
photo from ../shared/data through it, print the answer, and stop everything again.

    python -m scripts.run [--photo PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from api.inference import InferenceError, TorchServeClient
from handlers.archive import ROOT
from scripts import build_archives, torchserve
from scripts.dataset import read_records

MODEL_STORE = ROOT / "model_store"
SHARED_DATA = ROOT.parent / "shared" / "data"


def sample_photo() -> Path:
    records = read_records(SHARED_DATA / "clothing")
    if not records:
        raise SystemExit(f"no photos found under {SHARED_DATA / 'clothing'}")
    return records[0].image


async def annotate(server: torchserve.Server, photo: Path) -> dict:
    client = TorchServeClient(server.inference_url)
    try:
        (annotation,) = await client.annotate([photo.read_bytes()])
        (embedding,) = await client.embed([photo.read_bytes()])
    finally:
        await client.aclose()
    if isinstance(annotation, InferenceError):
        raise SystemExit(f"TorchServe refused {photo}: {annotation}")
    if isinstance(embedding, InferenceError):
        raise SystemExit(f"TorchServe could not embed {photo}: {embedding}")
    return {"photo": str(photo), "annotation": annotation, "embedding_dim": int(embedding.shape[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, help="a photo to annotate (default: the first of ../shared/data/clothing)")
    args = parser.parse_args()
    if not build_archives.up_to_date(MODEL_STORE):
        build_archives.main(["--output", str(MODEL_STORE)])
    photo = args.photo or sample_photo()
    with tempfile.TemporaryDirectory(prefix="kalas-run-") as home:
        print(f"starting TorchServe (logs in {home}/logs while it runs) ...", flush=True)
        server = torchserve.start(MODEL_STORE, home=Path(home))
        try:
            print(f"TorchServe ready at {server.inference_url}; models {server.models()}", flush=True)
            print(json.dumps(asyncio.run(annotate(server, photo)), indent=2, ensure_ascii=False))
        finally:
            torchserve.stop(server)
            print("TorchServe stopped")


if __name__ == "__main__":
    main()
