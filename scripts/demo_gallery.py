"""The demo catalogue: every photo of ../shared/data/fashion-products, indexed by the batch reindex.

`make run` and the console use it as the default catalogue. It lives at var/indexes/demo/index.kidx (git-ignored)
and is built on first use, about 7,700 images through whichever inference client the caller holds:

    store = CatalogueStore(DEMO_INDEXES)
    index = await ensure_demo_gallery(client, store)   # builds it once; afterwards it only loads it

or from a shell: python -m scripts.demo_gallery [--torchserve URL | --model-store DIR | --checkpoint DIR]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from api.inference import InferenceClient
from index import CatalogueIndex, CatalogueStore
from scripts.catalogue_reader import DirectoryReader
from scripts.reindex import reindex

ROOT = Path(__file__).resolve().parents[1]
DEMO_CATALOGUE = "demo"
DEMO_DATA = ROOT.parent / "shared" / "data" / "fashion-products"
DEMO_INDEXES = ROOT / "var" / "indexes"


async def ensure_demo_gallery(client: InferenceClient, store: CatalogueStore | None = None, *,
                              data_dir: Path = DEMO_DATA, progress: bool = True) -> CatalogueIndex:
    """The demo catalogue's index: loaded if it exists, else built from `data_dir` (an interrupted build resumes)."""
    store = store or CatalogueStore(DEMO_INDEXES)
    index = store.get(DEMO_CATALOGUE)
    if index is None:
        summary = await reindex(DirectoryReader(data_dir), client, store, DEMO_CATALOGUE, progress=progress)
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
    if args.rebuild:
        store.drop(DEMO_CATALOGUE)

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
