"""Real embeddings of the shared-data photos, made once by the served embedder and kept as one .npy file.

The retrieval benchmark measures compressed indexes on these as well as on synthetic vectors, since the two
compress differently. The file is keyed by the photos (directories and counts) and the embedder's digest, so a
changed model or data set never reuses stale vectors:

    vectors = photo_vectors(served, [data / "fashion-products", data / "clothing"])   # [n, 256] float32
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from api.clients.in_process import InProcessClient
from api.clients.inference import InferenceError
from handlers.archive import EMBEDDER
from handlers.in_process import ServedModel
from kalas.dataset import read_records

CACHE_ROOT = Path("var/cache/vectors")
BATCH = 32


def photo_vectors(served: ServedModel, data_dirs: Sequence[Path], *, root: Path = CACHE_ROOT) -> np.ndarray:
    """One L2-normalised vector per readable photo of `data_dirs`, in file order; refused photos are left out."""
    paths = [record.image for data_dir in data_dirs for record in read_records(data_dir)]
    key = hashlib.sha256(_archive_digest(served.model_dir).encode())
    key.update("|".join([*(str(Path(d).resolve()) for d in data_dirs), str(len(paths))]).encode())
    key = key.hexdigest()[:16]
    cached = root / f"photos-{key}.npy"
    if cached.is_file():
        return np.load(cached)
    vectors = asyncio.run(_embed(served, paths))
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def _archive_digest(model_dir: Path) -> str:
    """The sha256 of every file of the unpacked archive (weights, config, handler)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and "MAR-INF" not in p.parts):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


async def _embed(served: ServedModel, paths: list[Path]) -> np.ndarray:
    client = InProcessClient({EMBEDDER: served}, max_batch=BATCH)
    out: list[np.ndarray] = []
    started = time.perf_counter()
    try:
        for start in range(0, len(paths), BATCH):
            answers = await client.embed([path.read_bytes() for path in paths[start : start + BATCH]])
            out += [a.vector for a in answers if not isinstance(a, InferenceError)]
            if start % (BATCH * 40) == 0:
                print(f"embedded {start + BATCH:,}/{len(paths):,} photos ({time.perf_counter() - started:.0f} s)",
                      flush=True)
    finally:
        await client.aclose()
    return np.stack(out).astype(np.float32)
