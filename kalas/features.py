"""Cache of the frozen backbone's output per image, so training runs many epochs without re-decoding photos.

For each data directory the output of the backbone's stem and blocks [0, tune_from) (fp16; Lite0's [192, 7, 7] at
224 px) is
stored under `var/cache/features/<key>/part-*.pt`, where the key covers the directory, the input size, how a
photo is framed for the model (handlers/images.py), the split block, the backbone weights' sha256 and the view,
so a change to any of them never reuses a stale tensor.
View 0 is the photo as served; view v > 0 is an augmented copy (`augment`: a random crop, a mirror, a little
light), seeded by (image id, v) so the same view is the same pixels on every machine and every run. Parts are
written every `PART_SIZE` images: an interrupted run keeps what it finished, and a grown directory (a newer
review export) only computes its new images.
"""
from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from pathlib import Path

import torch
from PIL import Image, ImageEnhance
from tqdm import tqdm

from handlers.decoding import decode_image
from handlers.images import FRAMING, to_tensor
from handlers.models import MEAN, STD, EfficientNetLite
from kalas.dataset import Record, iter_batches

PART_SIZE = 128
BATCH_SIZE = 32
CACHE_ROOT = Path("var/cache/features")


def cache_dir(data_dir: Path, tune_from: int, weights_sha: str, size: int, root: Path = CACHE_ROOT,
              view: int = 0) -> Path:
    key = f"{data_dir.resolve()}|{size}|{FRAMING}|{tune_from}|{weights_sha}"
    if view:
        key += f"|view{view}"
    return root / f"{data_dir.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def augment(image: Image.Image, image_id: str, view: int) -> Image.Image:
    """A training view of `image`: a crop keeping 55–100 % of its area (aspect 3:4 to 4:3), mirrored half the
    time, brightness and contrast within ±15 %. Hue and saturation are left alone: colour is a label."""
    rng = random.Random(f"{image_id}|{view}")
    w, h = image.size
    for _ in range(10):
        area = w * h * rng.uniform(0.55, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if cw <= w and ch <= h:
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            image = image.crop((x, y, x + cw, y + ch))
            break
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
    return ImageEnhance.Contrast(image).enhance(rng.uniform(0.85, 1.15))


def view_image(record: Record, view: int, size: int) -> Image.Image:
    """The photo of `record` for a model that sees `size` px, as view `view`: as served (0), or the augmented view
    (`augment`)."""
    image = decode_image(record.image.read_bytes(), min_side=size)
    return augment(image, record.id, view) if view else image


def load_cached(directory: Path) -> dict[str, torch.Tensor]:
    cached: dict[str, torch.Tensor] = {}
    for part in sorted(directory.glob("part-*.pt")):
        data = torch.load(part, weights_only=True)
        cached.update(zip(data["ids"], data["features"]))
    return cached


def cached_features(
    records: list[Record],
    backbone: EfficientNetLite,
    tune_from: int,
    directory: Path,
    *,
    size: int,
    view: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """[N, C, H, W] fp16 block outputs for `records` (as `view`, at `size` px), in order, computing only the images
    not cached yet."""
    directory.mkdir(parents=True, exist_ok=True)
    cached = load_cached(directory)
    todo = [r for r in records if r.id not in cached]
    if todo:
        start, done = time.perf_counter(), 0
        bar = tqdm(total=len(todo), desc=f"features {directory.name}", unit="img", disable=not progress)
        # A fresh random name per fill: two runs (or two fills in one process within the same second) never
        # overwrite each other's parts.
        token, next_part = uuid.uuid4().hex[:12], 0
        seen = set(directory.glob("part-*.pt"))
        while todo:
            part_records, todo = todo[:PART_SIZE], todo[PART_SIZE:]
            outputs = []
            for batch in iter_batches(part_records, BATCH_SIZE):
                images = [view_image(r, view, size) for r in batch]
                with torch.inference_mode():
                    outputs.append(backbone.stem_and_blocks(to_tensor(images, size, MEAN, STD), tune_from).half())
                bar.update(len(batch))
            features = torch.cat(outputs)
            ids = [r.id for r in part_records]
            # Written under a temporary name first: a run killed mid-write leaves no half part behind.
            tmp = directory / f".part-{token}-{next_part:05d}.tmp"
            torch.save({"ids": ids, "features": features}, tmp)
            tmp.rename(directory / f"part-{token}-{next_part:05d}.pt")
            seen.add(directory / f"part-{token}-{next_part:05d}.pt")
            next_part += 1
            cached.update(zip(ids, features))
            done += len(part_records)
            # Parts another run wrote meanwhile: two runs filling one cache split the work instead of repeating it.
            for part in set(directory.glob("part-*.pt")) - seen:
                data = torch.load(part, weights_only=True)
                cached.update(zip(data["ids"], data["features"]))
                seen.add(part)
            remaining = [r for r in todo if r.id not in cached]
            bar.update(len(todo) - len(remaining))
            todo = remaining
        bar.close()
        elapsed = time.perf_counter() - start
        print(f"cached {done} images of {directory.name} in {elapsed:.0f} s ({done / elapsed:.1f} images/s)")
    return torch.stack([cached[r.id] for r in records])
