"""Cache of what the archive's own handler makes of each validation photo, for the calibration's fits.

scripts/calibrate.py runs the served handler (staged from the checkpoint) over the validation photos and fits on
its raw outputs: each head's logits (`category`, `attributes.<group>`, `colour`) and the photo's kind as the handler
tells it (handlers/images.py `photo_kind`). Those do not change between fits, so they are stored once per data
directory under `var/handler-outputs/<dir>-<key>.npz` (float32, the logits as the handler computed them); the key
covers the directory, the checkpoint's weights digest (with the framing, `weights_digest`) and its meta file (whose
label order the archive's label file follows), so a changed model, framing or label order never reuses stale
outputs. A fit of another calibrator then reads the file instead of running the network again. `StagedHandler`
computes them: the attributes archive staged from the checkpoint, as scripts/calibrate.py always ran it.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
from tqdm import tqdm

from handlers.archive import ATTRIBUTES, stage_archives, weights_digest
from handlers.images import photo_kind
from handlers.in_process import open_archive
from handlers.models.fashion import META_FILE, WEIGHTS_FILE
from kalas.dataset import Record

CACHE_ROOT = Path("var/handler-outputs")
BATCH = 32
KIND, LABELS = "kind", "labels"  # the photos' kinds and the archive's label file, beside the heads' logits


class Outputs(NamedTuple):
    """Per photo, in the records' order: each head's logits ({head: [N, classes]}) and its kind ("" where the
    handler refused the photo); and the archive's label file, which names the logits' rows."""

    logits: dict[str, np.ndarray]
    kinds: list[str]
    labels: dict


def cache_file(data_dir: Path, checkpoint: Path, root: Path = CACHE_ROOT) -> Path:
    meta = hashlib.sha256((checkpoint / META_FILE).read_bytes()).hexdigest()
    key = f"{data_dir.resolve()}|{weights_digest(checkpoint / WEIGHTS_FILE)}|{meta}"
    return root / f"{data_dir.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def handler_outputs(records: list[Record], data_dir: Path, checkpoint: Path,
                    compute: Callable[[list[Record]], Outputs], *, root: Path = CACHE_ROOT) -> Outputs:
    """The handler's outputs for `records`: read from the cache when it holds every one of them, else computed
    by `compute` (the staged handler over all of them) and stored, written to a temporary name then renamed so
    that an interrupted run leaves no half file."""
    path = cache_file(data_dir, checkpoint, root)
    ids = [r.id for r in records]
    if path.exists():
        with np.load(path) as data:
            rows = {str(i): row for row, i in enumerate(data["ids"])}
            if all(i in rows for i in ids):
                order = np.array([rows[i] for i in ids], dtype=int)
                return Outputs({k: data[k][order] for k in data.files if k not in ("ids", KIND, LABELS)},
                               [str(k) for k in data[KIND][order]], json.loads(str(data[LABELS])))
    outputs = compute(records)
    assert all(len(v) == len(records) for v in outputs.logits.values()) and len(outputs.kinds) == len(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{uuid.uuid4().hex[:8]}.tmp.npz")
    np.savez(tmp, ids=np.array(ids), **{KIND: np.array(outputs.kinds), LABELS: np.array(json.dumps(outputs.labels))},
             **{k: v.astype(np.float32) for k, v in outputs.logits.items()})
    tmp.rename(path)
    return outputs


class StagedHandler:
    """The attributes archive's handler, staged from the checkpoint when first asked for outputs (a fit whose
    photos are all cached never stages it); `outputs` is `handler_outputs`'s `compute`."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint, self.staged, self.handler = checkpoint, None, None

    def outputs(self, records: list[Record]) -> Outputs:
        """Each head's logits and each photo's kind, as the served handler computes them (a refused photo: no
        kind, NaN logits)."""
        if self.handler is None:
            self.staged = stage_archives(self.checkpoint)
            self.handler = open_archive(Path(self.staged.name), ATTRIBUTES).handler
        logits: dict[str, np.ndarray] = {}
        kinds = [""] * len(records)
        for start in tqdm(range(0, len(records), BATCH), desc="validation photos", unit="batch"):
            batch = records[start:start + BATCH]
            decoded = self.handler.preprocess([{"body": record.image.read_bytes()} for record in batch])
            _, outputs = self.handler.inference(decoded)
            if outputs is None:
                continue  # no photo of the batch decoded
            heads = {"category": outputs.get("category"), "colour": outputs.get("colour"),
                     **{f"attributes.{g}": v for g, v in outputs.get("attributes", {}).items()}}
            for name, tensor in heads.items():
                if tensor is None:
                    continue
                table = logits.setdefault(name, np.full((len(records), tensor.shape[1]), np.nan, dtype=np.float32))
                for row, position in enumerate(decoded.positions):
                    table[start + position] = tensor[row].numpy()
            for row, position in enumerate(decoded.positions):
                kinds[start + position] = photo_kind(decoded.images[row])
        return Outputs(logits, kinds, self.handler.labels)

    def close(self) -> None:
        if self.staged is not None:
            self.staged.cleanup()
