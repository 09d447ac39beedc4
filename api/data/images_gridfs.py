"""Stored images' bytes in GridFS, in the same MongoDB as their documents: what every API replica reaches.

`KALAS_IMAGE_STORE=gridfs`. The bytes of image `<id>` are the GridFS file with `_id` `<id>` in the bucket `image_bytes`
(collections `image_bytes.files` and `image_bytes.chunks`; the image documents stay in `images`), its metadata
naming the shop. The same methods and the same order as the directory store (api/data/images.py): bytes first,
then the document; the document deleted first, then the bytes.
"""
from __future__ import annotations

from typing import AsyncIterator

from gridfs import AsyncGridFSBucket, NoFile
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from api.data.common import delete_file
from api.data.images import ImageFileError, NewImage

BUCKET = "image_bytes"


class GridFsImages:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)

    async def write(self, new: list[NewImage]) -> None:
        """All of them or none; ImageFileError (retryable) when the database refuses one."""
        written: list[dict] = []
        try:
            for image in new:
                document = image.document
                written.append(document)
                await self.bucket.upload_from_stream_with_id(
                    document["_id"], document["_id"], image.data, metadata={"account": document["account"],
                                                                             "content_type": document["content_type"]})
        except PyMongoError as error:
            await self.remove(written)
            raise ImageFileError(f"the image could not be stored in the database ({error}); nothing was kept: "
                                 "retry later", code="storage_failed", retryable=True) from error

    async def remove(self, documents: list[dict]) -> None:
        for document in documents:  # one never written (a failed write), or stored before this store: no file
            await delete_file(self.bucket, document["_id"])

    async def load(self, document: dict) -> bytes:
        if "data" in document:  # stored before images had files
            return bytes(document["data"])
        try:
            stream = await self.bucket.open_download_stream(document["_id"])
        except NoFile:
            raise ImageFileError(f"image {document['_id']} is recorded but its bytes are missing from the "
                                 f"database's GridFS bucket '{BUCKET}': restore it from the backup (docs/operations.md)",
                                 code="image_file_missing", retryable=False) from None
        return await stream.read()

    async def check(self) -> None:
        """Readiness: the bucket's files collection answers."""
        await self.db[f"{BUCKET}.files"].find_one({}, {"_id": 1})

    async def shop_images(self, account_id: str) -> AsyncIterator[tuple[str, bytes]]:
        async for grid_out in self.bucket.find({"metadata.account": account_id}).sort("_id", 1):
            yield str(grid_out._id), await grid_out.read()

    async def remove_shop(self, account_id: str) -> int:
        ids = [f["_id"] async for f in self.db[f"{BUCKET}.files"].find({"metadata.account": account_id}, {"_id": 1})]
        for file_id in ids:
            await delete_file(self.bucket, file_id)
        return len(ids)
