"""Real embeddings of the shared-data photos, made once by the served embedder and kept as one .npy file.

The retrieval benchmark measures compressed indexes on these as well as on synthetic vectors, since the two
compress differently. The file is keyed by the photos (directories and counts) and the embedder's weights and
framing (`_key`), so a changed model or data set never reuses stale vectors:

    vectors = photo_vectors(served, [data / "fashion-products", data / "clothing"])   # [n, 256] float32

A catalogue of a million products needs more vectors than the photos: `photo_views` adds views of each photo (a
crop, a mirror image, a light change; `augmented_view`), embedded by the same handler, a pass over all the photos at a
time, each pass kept as its own file, so a long run can stop and go on where it stopped:

    views = photo_views(served, dirs, 1_000_000)   # rows p * n + i: pass p's view of photo i; pass 0 the photos
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from api.clients.in_process import InProcessClient
from api.clients.inference import InferenceError
from handlers.archive import EMBEDDER
from handlers.decoding import decode_image
from handlers.in_process import ServedModel
from index.files import process_alive
from kalas.dataset import read_records

CACHE_ROOT = Path("var/cache/vectors")
BATCH = 32
# Views go through the model 8 at a time: the frozen graph's cheapest batch per photo on these 2-core CPUs (6.8 ms a
# photo against 8.2 in batches of 32; a throwaway timing, nothing else running).
VIEW_BATCH = 8
VIEWS = "crop0.6-1.0/aspect0.8-1.25/mirror0.5/light0.85-1.15"  # `augmented_view`: in the cache's key


def photo_vectors(served: ServedModel, data_dirs: Sequence[Path], *, root: Path = CACHE_ROOT) -> np.ndarray:
    """One L2-normalised vector per readable photo of `data_dirs`, in file order; refused photos are left out."""
    paths = _photos(data_dirs)
    return _photo_vectors(served, paths, _key(served, data_dirs, paths), root)


def _photo_vectors(served: ServedModel, paths: list[Path], key: str, root: Path) -> np.ndarray:
    cached = root / f"photos-{key}.npy"
    if cached.is_file():
        return np.load(cached)
    vectors = asyncio.run(_embed(served, paths))
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def photo_views(served: ServedModel, data_dirs: Sequence[Path], count: int, *, root: Path = CACHE_ROOT) -> np.ndarray:
    """`count` L2-normalised vectors: `photo_vectors`' rows (pass 0), then pass 1's view of every photo, and so on.

    Row p * n + i is pass p's view of photo i (n photos), so a photo's views are known by their row. Passes are
    embedded and saved one at a time, and a saved pass is never embedded again. Processes may share the work: each
    claims a pass before embedding it (`_claim`), so two with one thread each (OMP_NUM_THREADS=1) embed passes side
    by side, and a pass whose process is gone is taken over.
    """
    paths = _photos(data_dirs)
    key = _key(served, data_dirs, paths)
    photos = _photo_vectors(served, paths, key, root)
    if len(photos) != len(paths):
        raise ValueError(f"{len(paths) - len(photos)} of the photos were refused; views need every photo readable")
    folder = root / f"views-{key}-{hashlib.sha256(VIEWS.encode()).hexdigest()[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    numbers = range(1, -(-count // len(photos)))
    while missing := [number for number in numbers if not _saved(folder, number).is_file()]:
        number, claim = next(((n, c) for n in missing if (c := _claim(folder, n)) is not None), (None, None))
        if claim is None:
            time.sleep(5)  # every pass left is being embedded by another process
            continue
        try:
            partial = folder / f"pass-{number:03d}.partial-{os.getpid()}.npy"
            np.save(partial, _embed_views(served, paths, number))
            partial.rename(_saved(folder, number))
        finally:
            if claim.is_file() and claim.read_text() == str(os.getpid()):
                claim.unlink()
    return np.concatenate([photos, *(np.load(_saved(folder, number)) for number in numbers)])[:count]


def _saved(folder: Path, number: int) -> Path:
    return folder / f"pass-{number:03d}.npy"


def _claim(folder: Path, number: int) -> Path | None:
    """Pass `number`'s claim, now this process's; None while a living process holds it. A claim is a file naming
    its process, made whole or not at all (a hard link); one left by a process that is gone is taken over (two
    takers at once would embed the same views twice: time lost, the same file)."""
    claim, mine = folder / f"pass-{number:03d}.claim", folder / f".claim-{os.getpid()}"
    mine.write_text(str(os.getpid()))
    try:
        os.link(mine, claim)
    except FileExistsError:
        try:
            holder = int(claim.read_text())
        except FileNotFoundError:
            return None  # released meanwhile: the next look finds the pass saved or free
        if process_alive(holder):
            return None
        os.replace(mine, claim)
    finally:
        mine.unlink(missing_ok=True)
    return claim


def augmented_view(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Another photo of the same garment as a shop might take it: a crop of 60-100% of its area at an aspect within
    0.8-1.25 of the photo's, mirrored half the time, brightness, contrast and colour each within 15%."""
    width, height = image.size
    area, aspect = rng.uniform(0.6, 1.0), math.exp(rng.uniform(math.log(0.8), math.log(1.25)))
    w = min(width, round(width * math.sqrt(area * aspect)))
    h = min(height, round(height * math.sqrt(area / aspect)))
    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    view = image.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        view = ImageOps.mirror(view)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        view = enhance(view).enhance(rng.uniform(0.85, 1.15))
    return view


def _embed_views(served: ServedModel, paths: list[Path], number: int) -> np.ndarray:
    """Pass `number`'s view of every photo, through the served handler's own framing, model and answer."""
    # Here, not at the top: the handler's module loads torch, which the benchmark importing this one must bound
    # OpenMP's spinning for first (handlers/openmp_pool.py).
    from handlers.base_handler import DecodedBatch

    handler = served.handler
    size = handler.preprocessing["image_size"]
    out = np.empty((len(paths), handler.dim), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, len(paths), VIEW_BATCH):
        chunk = paths[start : start + VIEW_BATCH]
        views = [augmented_view(decode_image(path.read_bytes(), min_side=size),
                                np.random.default_rng([number, start + i])) for i, path in enumerate(chunk)]
        batch = handler.framed(DecodedBatch(size=len(views), images=views, positions=list(range(len(views)))))
        answers = handler.postprocess(handler.inference(batch))
        out[start : start + len(chunk)] = [answer["embedding"] for answer in answers]
        if start % (VIEW_BATCH * 320) == 0:
            print(f"pass {number}: {start + len(chunk):,}/{len(paths):,} views ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    return out


def _photos(data_dirs: Sequence[Path]) -> list[Path]:
    return [record.image for data_dir in data_dirs for record in read_records(data_dir)]


def _key(served: ServedModel, data_dirs: Sequence[Path], paths: list[Path]) -> str:
    """The photos (directories and count) and what identifies the embedder's answers (its weights and framing,
    handlers/archive.py `weights_digest`; its input size): another model or data set misses the cache, while a
    change to code that leaves the answers alone keeps hours of views."""
    handler = served.handler
    key = hashlib.sha256(f"{handler.identity['digest']}|{handler.preprocessing['image_size']}".encode())
    key.update("|".join([*(str(Path(d).resolve()) for d in data_dirs), str(len(paths))]).encode())
    return key.hexdigest()[:16]


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
