"""The demo catalogue: every photo of ../shared/data/fashion-products, indexed by the batch reindex.

`make run` and the console use it as the default catalogue. It lives at var/indexes/demo/index.kidx (git-ignored)
and is built on first use, about 7,700 images through whichever inference client the caller holds:

    store = CatalogueStore(DEMO_INDEXES)
    index = await ensure_demo_gallery(client, store)   # builds it once; afterwards it only loads it

or from a shell: python -m scripts.demo_gallery [--torchserve URL | --model-store DIR | --checkpoint DIR]

A gallery embedded by one model is meaningless to another (the embedding spaces differ), so the gallery's
directory records a digest of the checkpoint's weights and of how photos were framed for them (`model.sha256`):
`make run` rebuilds a gallery whose stamp is missing or names another model (`is_current`).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from api.clients.inference import InferenceClient
from handlers.archive import DEFAULT_CHECKPOINT, weights_digest
from index import CatalogueIndex, CatalogueStore
from kalas.dataset import shared_data
from kalas.readers import DirectoryReader
from scripts.reindex import reindex

ROOT = Path(__file__).resolve().parents[1]
DEMO_CATALOGUE = "demo"
DEMO_INDEXES = ROOT / "var" / "indexes"
MODEL_STAMP = "model.sha256"


def demo_data() -> Path:
    """The photos the demo gallery is built from: the shared fashion-products set."""
    return shared_data() / "fashion-products"


def embedder_digest(checkpoint_dir: Path = DEFAULT_CHECKPOINT) -> str:
    """The digest the embedder built from this checkpoint reports in its answers (handlers/archive.py)."""
    from handlers.models.fashion import WEIGHTS_FILE  # imports torch: not before a command has bounded OpenMP

    return weights_digest(Path(checkpoint_dir) / WEIGHTS_FILE)


def stamp_model(store: CatalogueStore, digest: str) -> None:
    """Record that the demo gallery is (being) embedded by the model with `digest` (`embedder_digest`)."""
    directory = store.directory(DEMO_CATALOGUE)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_STAMP).write_text(digest + "\n", encoding="utf-8")


def is_current(store: CatalogueStore, digest: str) -> bool:
    """True when the demo gallery exists and was embedded by the model with `digest`."""
    stamp = store.directory(DEMO_CATALOGUE) / MODEL_STAMP
    return store.exists(DEMO_CATALOGUE) and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest


def needs_build(store: CatalogueStore, weights: str | None, *, rebuild: bool = False) -> str | None:
    """Why the demo gallery must be built now (None: it is usable as it is). A gallery embedded by another model
    (or when `rebuild`) is dropped first; `weights` (None when unknown) is stamped on the one about to be built."""
    if store.exists(DEMO_CATALOGUE):
        if rebuild:
            reason = "a rebuild was asked for"
        elif weights and not is_current(store, weights):
            reason = "it was embedded by another model (other weights or framing)"
        else:
            return None
        store.drop(DEMO_CATALOGUE)
    else:
        reason = "there is none yet"
    if weights:
        stamp_model(store, weights)
    return reason


async def ensure_demo_gallery(client: InferenceClient, store: CatalogueStore | None = None, *,
                              data_dir: Path | None = None, progress: bool = True) -> CatalogueIndex:
    """The demo catalogue's index: loaded if it exists, else built from `data_dir` (`demo_data()` when not
    given; an interrupted build resumes)."""
    store = store or CatalogueStore(DEMO_INDEXES)
    index = store.get(DEMO_CATALOGUE)
    if index is None:
        reader = DirectoryReader(data_dir or demo_data())
        summary = await reindex(reader, client, store, DEMO_CATALOGUE, progress=progress)
        if progress:
            print("\n".join(summary.lines()), file=sys.stderr)
        index = store.get(DEMO_CATALOGUE)
    assert index is not None
    return index


def main(argv: list[str] | None = None) -> int:
    from scripts.reindex import open_client

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--torchserve", metavar="URL")
    source.add_argument("--model-store", type=Path)
    source.add_argument("--checkpoint", type=Path)
    parser.add_argument("--rebuild", action="store_true", help="embed everything again (after a model change)")
    args = parser.parse_args(argv)
    store = CatalogueStore(DEMO_INDEXES)
    # Embedded here from a checkpoint, its weights are known; through a server or a model store they are not.
    weights = None if (args.torchserve or args.model_store) else embedder_digest(args.checkpoint or DEFAULT_CHECKPOINT)
    reason = needs_build(store, weights, rebuild=args.rebuild)
    if reason:
        print(f"building the demo gallery: {reason}", file=sys.stderr)

    async def go() -> CatalogueIndex:
        client = open_client(args)
        try:
            return await ensure_demo_gallery(client, store)
        finally:
            await client.aclose()

    index = asyncio.run(go())
    print(f"demo catalogue: {len(index)} products at {store.path(DEMO_CATALOGUE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
