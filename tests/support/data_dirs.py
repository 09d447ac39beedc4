"""Tiny directories in the shared-data layout, made from real photos for a test; where a test's service keeps
its stored images."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from kalas.stack.service import image_dir_beside

__all__ = ["files_under", "image_dir_beside", "make_directory"]


def make_directory(source: Path, target: Path, count: int, rows_from: int = 0) -> Path:
    """Rows `rows_from`.. `rows_from + count` (those with images) of a shared data set, copied under `target`."""
    (target / "images").mkdir(parents=True)
    with (source / "labels.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if (source / "images" / f"{row['id']}.jpg").is_file()]
        fields = reader.fieldnames
    rows = rows[rows_from : rows_from + count]
    with (target / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(source / "images" / f"{row['id']}.jpg", target / "images")
    return target


def files_under(directory: Path) -> list[Path]:
    """Every file below `directory` (none when it does not exist), sorted: what an image store holds."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []
