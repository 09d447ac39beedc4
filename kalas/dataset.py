"""Reading a directory in the shared-data layout (`images/<id>.jpg` + `labels.csv`) and splitting it.

Every command that reads labelled photos (training, evaluation, retrieval evaluation, reindexing a
directory catalogue) goes through here, so that "which images are validation" has one answer.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

VALIDATION_FRACTION = 0.15
ROOT = Path(__file__).resolve().parents[1]


def find_shared_data(root: Path = ROOT) -> Path:
    """Where the shared data sets are read from: $KALAS_SHARED_DATA when set, else `../shared/data` beside the
    checkout at `root`, else beside the local checkout it was cloned from (a clean clone in a scratch directory, as
    a check before pushing makes, still finds the data); `../shared/data` when none of them exists."""
    if os.environ.get("KALAS_SHARED_DATA"):
        return Path(os.environ["KALAS_SHARED_DATA"])
    beside = root.parent / "shared" / "data"
    if beside.is_dir():
        return beside
    try:
        origin = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return beside
    cloned_from = Path(origin).parent / "shared" / "data" if origin and "://" not in origin else None
    return cloned_from if cloned_from is not None and cloned_from.is_dir() else beside


@functools.cache
def shared_data() -> Path:
    """`find_shared_data()` for this checkout, looked up on the first call (it may run git) and kept."""
    return find_shared_data()


@dataclass(frozen=True)
class Record:
    """One labelled photo: its id, its image path and the raw label columns of `labels.csv`."""

    id: str
    image: Path
    labels: dict[str, str]


# The layout's photos are JPEG; a copy made to travel small (scripts/device_kit.py) holds WebP files instead.
IMAGE_SUFFIXES = (".jpg", ".webp")


def read_records(data_dir: str | Path) -> list[Record]:
    """All rows of `data_dir/labels.csv` whose image exists (`images/<id>.jpg`, else `.webp`), in file order.

    Raises FileNotFoundError naming what is missing when the directory is not in the layout.
    """
    return read_rows(data_dir)[0]


def read_rows(data_dir: str | Path) -> tuple[list[Record], list[Record]]:
    """(the rows whose image exists, the rows whose image does not), each in file order: a row without its image is
    a Record whose `image` is the file the layout names for it (`images/<id>.jpg`). An evaluation counts those as
    failed, so that a missing file never makes a smaller test set unsaid.

    Raises FileNotFoundError naming what is missing when the directory is not in the layout, ValueError when
    labels.csv has no `id` column.
    """
    root = Path(data_dir)
    labels_csv = root / "labels.csv"
    images = root / "images"
    if not labels_csv.is_file() or not images.is_dir():
        raise FileNotFoundError(
            f"{root} is not a data directory: it needs labels.csv and images/<id>.jpg "
            f"(found labels.csv={labels_csv.is_file()}, images/={images.is_dir()})"
        )
    found, missing = [], []
    # utf-8-sig: a spreadsheet's "CSV UTF-8" begins with a byte-order mark, which would be read into the first name.
    with labels_csv.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "id" not in (reader.fieldnames or []):
            raise ValueError(f"{labels_csv} has no 'id' column (each row's photo is images/<id>.jpg); its header is "
                             f"{reader.fieldnames or 'empty'}")
        for row in reader:
            image_id = row.pop("id")
            path = next((p for p in (images / f"{image_id}{suffix}" for suffix in IMAGE_SUFFIXES) if p.is_file()), None)
            if path is None:
                missing.append(Record(id=image_id, image=images / f"{image_id}{IMAGE_SUFFIXES[0]}", labels=row))
            else:
                found.append(Record(id=image_id, image=path, labels=row))
    return found, missing


def is_validation(image_id: str, fraction: float = VALIDATION_FRACTION) -> bool:
    """A stable split by id hash: the same photo is on the same side in every command and on every machine."""
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split(records: list[Record], fraction: float = VALIDATION_FRACTION) -> tuple[list[Record], list[Record]]:
    """(train, validation) by `is_validation`."""
    train = [r for r in records if not is_validation(r.id, fraction)]
    val = [r for r in records if is_validation(r.id, fraction)]
    return train, val


def iter_batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
