"""The cache of the handler's outputs per photo: computed once, read back in the records' order, and never reused
for another model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from handlers.archive import DEFAULT_CHECKPOINT
from handlers.models.fashion import META_FILE, WEIGHTS_FILE
from kalas.dataset import Record
from kalas.handler_outputs import Outputs, cache_file, handler_outputs

LABELS = {"category": [{"label": "tshirt", "name": "T-shirt"}], "attributes": {}}


def records(count: int) -> list[Record]:
    return [Record(f"photo-{i}", Path(f"images/photo-{i}.jpg"), {}) for i in range(count)]


class Counting:
    """A stand-in for the staged handler: logits that name their photo, and how many photos it was asked for."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self, batch: list[Record]) -> Outputs:
        self.asked += len(batch)
        numbers = np.array([[float(r.id.split("-")[1]), -1.0] for r in batch], dtype=np.float32)
        return Outputs({"category": numbers}, ["studio" if i % 2 else "everyday" for i in range(len(batch))], LABELS)


def checkpoint_in(tmp_path: Path) -> Path:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    for name in (META_FILE, WEIGHTS_FILE):
        shutil.copy(DEFAULT_CHECKPOINT / name, checkpoint)
    return checkpoint


def test_outputs_are_computed_once_and_read_back_in_the_records_order(tmp_path: Path):
    checkpoint, compute, data = checkpoint_in(tmp_path), Counting(), tmp_path / "data"
    first = handler_outputs(records(5), data, checkpoint, compute, root=tmp_path / "cache")
    again = handler_outputs(records(5)[::-1], data, checkpoint, compute, root=tmp_path / "cache")
    assert compute.asked == 5
    assert again.logits["category"][:, 0].tolist() == [4, 3, 2, 1, 0]
    assert again.kinds == first.kinds[::-1] and again.labels == LABELS
    # A photo the cache lacks runs the handler again, over every photo asked for.
    handler_outputs(records(6), data, checkpoint, compute, root=tmp_path / "cache")
    assert compute.asked == 11


def test_another_model_or_label_order_never_reads_the_cache(tmp_path: Path):
    checkpoint, root, data = checkpoint_in(tmp_path), tmp_path / "cache", tmp_path / "data"
    before = cache_file(data, checkpoint, root)
    meta = json.loads((checkpoint / META_FILE).read_text())
    meta["categories"] = meta["categories"][::-1]
    (checkpoint / META_FILE).write_text(json.dumps(meta))
    reordered = cache_file(data, checkpoint, root)
    with (checkpoint / WEIGHTS_FILE).open("ab") as weights:
        weights.write(b"\0")
    assert len({before, reordered, cache_file(data, checkpoint, root), cache_file(tmp_path / "other", checkpoint, root)}) == 4
