"""Cache of the served model's outputs per photo, for benchmarks that compare what can be learned on top of them.

For each photo of a data directory, as the served archive frames it (handlers/images.py), the checkpoint's:
- `embedding`: the retrieval embedding `fashion-embedder` answers (L2-normalised);
- `pooled`: the heads' input (handlers/models/fashion.py `FashionModel.pooled`): the last feature map average- and
  max-pooled (2 × 1280), then block 14's texture statistics (3 × 192);
- `category`, `attributes.<group>`, `colour`: the heads' logits.
Stored as float16 numpy arrays under `var/cache/served/<dir>-<key>/part-*.npz`; the key covers the directory,
the weights' digest (their sha256 with the framing, as `model.digest` answers it) and the input size, so a changed
model or framing never reuses a stale vector. Parts are written every PART_SIZE photos: an interrupted run keeps
what it finished.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import numpy as np
import torch

from handlers.archive import weights_digest
from handlers.decoding import decode_image
from handlers.images import to_tensor
from handlers.models import MEAN, STD
from handlers.models.fashion import META_FILE, WEIGHTS_FILE, input_size_of, load_fashion_model
from kalas.dataset import Record, iter_batches

PART_SIZE = 512
BATCH_SIZE = 32
CACHE_ROOT = Path("var/cache/served")


def cache_dir(data_dir: Path, checkpoint: Path, root: Path = CACHE_ROOT) -> Path:
    size = input_size_of(json.loads((checkpoint / META_FILE).read_text()))
    key = f"{data_dir.resolve()}|{size}|{weights_digest(checkpoint / WEIGHTS_FILE)}"
    return root / f"{data_dir.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _outputs(model: torch.nn.Module, records: list[Record]) -> dict[str, np.ndarray]:
    images = [decode_image(r.image.read_bytes(), min_side=model.input_size) for r in records]
    with torch.inference_mode():
        pooled = model.pooled_photos(to_tensor(images, model.input_size, MEAN, STD))
        heads = model.heads(pooled)
    out = {"embedding": heads["embedding"], "pooled": pooled, "category": heads["category"]}
    out.update({f"attributes.{g}": logits for g, logits in heads["attributes"].items()})
    if "colour" in heads:
        out["colour"] = heads["colour"]
    return {name: tensor.float().numpy().astype(np.float16) for name, tensor in out.items()}


def served_outputs(records: list[Record], data_dir: Path, checkpoint: Path, *, root: Path = CACHE_ROOT,
                   progress: bool = True) -> dict[str, np.ndarray]:
    """{output name: [N, D] float32} for `records`, in order, computing only the photos not cached yet."""
    directory = cache_dir(data_dir, checkpoint, root)
    directory.mkdir(parents=True, exist_ok=True)
    cached: dict[str, dict[str, np.ndarray]] = {}

    def read(part: Path) -> None:
        with np.load(part) as data:
            arrays = {k: data[k] for k in data.files if k != "ids"}
            for row, image_id in enumerate(data["ids"]):
                cached[str(image_id)] = {k: v[row] for k, v in arrays.items()}

    for part in sorted(directory.glob("part-*.npz")):
        read(part)
    todo = [r for r in records if r.id not in cached]
    if todo:
        model, _ = load_fashion_model(checkpoint)
        start, token = time.perf_counter(), uuid.uuid4().hex[:12]
        for number, part_records in enumerate(iter_batches(todo, PART_SIZE)):
            outputs = [_outputs(model, batch) for batch in iter_batches(part_records, BATCH_SIZE)]
            arrays = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
            tmp = directory / f".part-{token}-{number:05d}.tmp.npz"
            np.savez(tmp, ids=np.array([r.id for r in part_records]), **arrays)
            tmp.rename(directory / f"part-{token}-{number:05d}.npz")
            read(directory / f"part-{token}-{number:05d}.npz")
            if progress:
                done = min((number + 1) * PART_SIZE, len(todo))
                print(f"served outputs: {done}/{len(todo)} photos in "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
    names = cached[records[0].id].keys() if records else []
    return {name: np.stack([cached[r.id][name] for r in records]).astype(np.float32) for name in names}
