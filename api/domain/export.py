"""A shop's reviewed annotations as a training directory in the shared-data layout, zipped.

    labels.csv        id,category,gender,usage,season,pattern,colour   (taxonomy labels; empty = not given)
    images/<id>.jpg   the image as the model saw it (crop applied), JPEG

handlers/taxonomy.yaml's `review` mapping reads exactly these columns, so the unzipped directory goes
straight to the training and evaluation commands. The latest review of each annotation wins.
"""
from __future__ import annotations

import asyncio
import csv
import io
import tempfile
import zipfile
from typing import IO

from pymongo.asynchronous.database import AsyncDatabase

from api.data import annotations, images
from api.data.images import ImageStore
from api.intake.photo import training_jpeg

COLUMNS = ("id", "category", "gender", "usage", "season", "pattern", "colour")
_CHUNK = 50


def _row(annotation: dict) -> dict[str, str]:
    review = annotation["review"]
    attributes = review.get("attributes", {})
    colours = review.get("colours") or [""]
    return {"id": annotation["_id"], "category": review["category"], "colour": colours[0],
            **{group: attributes.get(group, "") for group in ("gender", "usage", "season", "pattern")}}


async def export_reviewed(db: AsyncDatabase, files: ImageStore, account_id: str, root: str) -> tuple[IO[bytes], int]:
    """(a temporary file holding the zip, number of rows); the zip's entries sit under `root/`."""
    target = tempfile.TemporaryFile()
    rows: list[dict[str, str]] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:  # JPEGs do not compress further
        chunk: list[dict] = []
        async for annotation in annotations.reviewed(db, account_id):
            chunk.append(annotation)
            if len(chunk) == _CHUNK:
                await _flush(db, files, account_id, archive, chunk, rows, root)
                chunk = []
        await _flush(db, files, account_id, archive, chunk, rows, root)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr(f"{root}/labels.csv", text.getvalue())
    target.seek(0)
    return target, len(rows)


async def _flush(db: AsyncDatabase, files: ImageStore, account_id: str, archive: zipfile.ZipFile, chunk: list[dict],
                 rows: list[dict[str, str]], root: str) -> None:
    if not chunk:
        return
    stored = await images.get_many(db, account_id, [a["image"]["id"] for a in chunk])
    present = [a for a in chunk if a["image"]["id"] in stored]
    data = {a["_id"]: await files.load(stored[a["image"]["id"]]) for a in present}

    def write() -> None:
        for annotation in present:
            archive.writestr(f"{root}/images/{annotation['_id']}.jpg",
                             training_jpeg(data[annotation["_id"]], annotation["crop"]))

    await asyncio.to_thread(write)
    rows.extend(_row(a) for a in present)
