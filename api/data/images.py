"""Stored images: a small MongoDB document per image (whose it is, type, size), its bytes in a file beside it.

Why files and not the bytes inside the document (as up to 2026-11-25) or GridFS: the embedded database keeps
a document as JSON text in SQLite, so a photo's bytes travel as base64 through a JSON encoder and a validity
check: about 7 ms of the database's CPU for a 340 KB shop photo, written after the model has answered and before
the 201 (docs/benchmarks.md), and GridFS took ~5 ms per put even for thumbnails. A file takes 0.04 ms to write
(0.5 ms with its fsync), and that happens while the model works.

The order keeps the database from ever naming bytes that are not there: a file is written and fsynced before
its document is inserted, and removed after its document is deleted (or when the insert fails). A crash between
the two can leave a file that no document names: disk space, never a lost image. Files sit at
`<image_dir>/<shop id>/<image id>`; both ids are the API's own hex ids, checked before they make a path.
Documents written before files existed carry their bytes in `data`, and are still read from there.

That directory is the embedded default, for one host. API replicas on several hosts keep the bytes where every
one of them reaches them: `KALAS_IMAGE_STORE=gridfs` puts them in the same MongoDB (api/data/images_gridfs.py,
`GridFsImages`, the same methods as `ImageFiles`).
"""
from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
import shutil
from pathlib import Path
from typing import AsyncIterator, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from api.domain.errors import DomainError
from api.core.security import new_id
from api.data.common import now

_ID = re.compile(r"[0-9a-f]{1,64}")


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.images.create_index([("account", ASCENDING)])


class ImageFileError(DomainError):
    """An image's file could not be written (nothing of it was kept; `retryable`), or a stored image's file is
    missing; `code` names which."""


@dataclass(frozen=True)
class NewImage:
    """An image about to be stored: its document (not yet inserted) and its bytes."""

    document: dict
    data: bytes


def new_image(account_id: str, data: bytes, content_type: str, width: int, height: int) -> NewImage:
    """The image with its id, not yet stored (so a caller can write its file early and insert its document
    beside other writes)."""
    return NewImage({"_id": new_id(), "account": account_id, "content_type": content_type, "size": len(data),
                     "width": width, "height": height, "created": now()}, data)


class ImageStore(Protocol):
    """Where images' bytes live: this module's `ImageFiles` (a directory) or `GridFsImages` (api/data/images_gridfs.py)."""

    async def write(self, new: list[NewImage]) -> None: ...
    async def remove(self, documents: list[dict]) -> None: ...
    async def load(self, document: dict) -> bytes: ...
    async def check(self) -> None: ...
    def shop_images(self, account_id: str) -> AsyncIterator[tuple[str, bytes]]: ...
    async def remove_shop(self, account_id: str) -> int: ...


class ImageFiles:
    """The image bytes under one directory. Blocking calls: the async methods run them in a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, document: dict) -> Path:
        account, image = document["account"], document["_id"]
        if not (_ID.fullmatch(account) and _ID.fullmatch(image)):
            raise ValueError(f"not an image id of this API: {account!r}/{image!r}")
        return self.root / account / image

    def write_all(self, new: list[NewImage]) -> None:
        """Each image's file, durable when this returns; all of them or none (ImageFileError for a full or
        unwritable disk, which says why)."""
        written: list[dict] = []
        try:
            for image in new:
                target = self.path(image.document)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as file:
                    written.append(image.document)
                    file.write(image.data)
                    file.flush()
                    os.fsync(file.fileno())
            for folder in {self.path(document).parent for document in written}:  # the new names, durable too
                descriptor = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        except BaseException as error:
            self.remove_all(written)
            if isinstance(error, OSError):
                raise ImageFileError(f"the image could not be stored on the server ({error.strerror or error}); "
                                     "nothing was kept: retry later", code="storage_failed", retryable=True) from error
            raise

    def remove_all(self, documents: list[dict]) -> None:
        for document in documents:
            self.path(document).unlink(missing_ok=True)  # none for an image stored before files

    def read(self, document: dict) -> bytes:
        if "data" in document:  # stored before images had files
            return bytes(document["data"])
        try:
            return self.path(document).read_bytes()
        except FileNotFoundError:
            raise ImageFileError(f"image {document['_id']} is recorded but its file is missing from the server's "
                                 "image directory: restore it from the backup (docs/operations.md)",
                                 code="image_file_missing", retryable=False) from None

    # In the event loop's own thread pool (`asyncio.to_thread`, the one pool the API and the worker hand work to):
    # about 0.2 ms of CPU less per call than Starlette's run_in_threadpool (anyio's worker threads), and the write
    # runs on every annotate request.
    async def write(self, new: list[NewImage]) -> None:
        if new:
            await asyncio.to_thread(self.write_all, new)

    async def remove(self, documents: list[dict]) -> None:
        if documents:
            await asyncio.to_thread(self.remove_all, documents)

    async def load(self, document: dict) -> bytes:
        return await asyncio.to_thread(self.read, document)

    async def check(self) -> None:
        """Readiness: the directory must take new images."""
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"the image directory {self.root} is not writable")

    async def shop_images(self, account_id: str) -> AsyncIterator[tuple[str, bytes]]:
        """(image id, bytes) of every image of the shop that has its bytes here (an account's export)."""
        folder = self.root / account_id if _ID.fullmatch(account_id) else None
        paths = sorted(p for p in folder.rglob("*") if p.is_file()) if folder and folder.is_dir() else []
        for path in paths:
            yield path.relative_to(folder).as_posix(), await asyncio.to_thread(path.read_bytes)

    async def remove_shop(self, account_id: str) -> int:
        """Delete every image the shop has here; how many there were."""
        folder = self.root / account_id if _ID.fullmatch(account_id) else None
        if folder is None or not folder.is_dir():
            return 0
        count = sum(1 for path in folder.rglob("*") if path.is_file())
        await asyncio.to_thread(shutil.rmtree, folder, True)
        return count


async def insert_many(db: AsyncDatabase, files: ImageStore, new: list[NewImage]) -> None:
    """Files first, then the documents; after a failed insert, neither."""
    if not new:
        return
    await files.write(new)
    try:
        await db.images.insert_many([image.document for image in new])
    except BaseException:
        # Should this fail too, its error is raised and the files stay: never a document without its bytes.
        await db.images.delete_many({"_id": {"$in": [image.document["_id"] for image in new]}})
        await files.remove([image.document for image in new])
        raise


async def get(db: AsyncDatabase, account_id: str, image_id: str) -> dict | None:
    return await db.images.find_one({"_id": image_id, "account": account_id})


async def get_signed(db: AsyncDatabase, image_id: str) -> dict | None:
    """An image by id alone: only for URLs whose signature the route has already checked."""
    return await db.images.find_one({"_id": image_id})


async def get_many(db: AsyncDatabase, account_id: str, image_ids: list[str], projection: dict | None = None
                   ) -> dict[str, dict]:
    """The shop's images of these ids. Asked by `_id` alone and the shop checked here: nx-27017 answers an `_id`
    `$in` from its primary key, but with the account beside it reads every image of every shop
    (`python -m scripts.bench_nx_reads`; api/data/products.py `_by_ids` found the same for products)."""
    found = db.images.find({"_id": {"$in": image_ids}}, projection and {**projection, "account": 1})
    return {image["_id"]: image async for image in found if image.get("account") == account_id}


async def delete(db: AsyncDatabase, files: ImageStore, account_id: str, image_ids: list[str]) -> int:
    """The documents first, then their files (a crash between leaves only unnamed files)."""
    if not image_ids:
        return 0
    owned = list(await get_many(db, account_id, image_ids, {"_id": 1}))  # by `_id` alone, as `get_many` says why
    deleted = (await db.images.delete_many({"_id": {"$in": owned}})).deleted_count if owned else 0
    # A file sits under its owner's folder, so an id of another shop names no file here: nothing to look up first.
    await files.remove([{"_id": image_id, "account": account_id} for image_id in image_ids])
    return deleted
