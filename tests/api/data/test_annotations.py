"""An annotation and its image's document are written together, as one client-level bulkWrite: all pairs of a
request, or none (real nx-27017)."""
from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import ClientBulkWriteException

from api.data import accounts, annotations, images
from api.data.db import open_client
from api.domain.errors import AccountGone

RESULT = {"category": [{"label": "tshirt", "name": "T-Shirt", "score": 0.9}], "attributes": {}, "colours": [],
          "model": {"name": "fashion-attributes", "version": "1.0"}}


def _pair(account: str, data: bytes) -> tuple[dict, dict]:
    image = images.new_image(account, data, "image/jpeg", 20, 10).document
    return annotations.new_annotation(account, image, {"kind": "upload", "filename": "a.jpg"}, None, RESULT), image


async def _counts(db) -> tuple[int, int]:
    return await db.images.count_documents({}), await db.annotations.count_documents({})


def test_pairs_are_stored_together(mongo_server, mongo_database):
    async def run():
        client = open_client(mongo_server.uri)
        db = client[mongo_database]
        await db.accounts.insert_one({"_id": "shop"})  # the shop whose annotations they are (its deletion: below)
        try:
            stored = [_pair("shop", b"one"), _pair("shop", b"two")]
            await db.command("ping")  # the topology is known from here on, as after the app's start-up
            await annotations.insert_with_images(db, stored)
            found = await annotations.get(db, "shop", stored[1][0]["_id"])
            image = await images.get(db, "shop", found["image"]["id"])
            return await _counts(db), image["size"]
        finally:
            await client.close()

    assert asyncio.run(run()) == ((2, 2), len(b"two"))


def test_a_failed_write_leaves_nothing_of_the_request(mongo_server, mongo_database):
    async def run():
        client = open_client(mongo_server.uri)
        db = client[mongo_database]
        await db.accounts.insert_one({"_id": "shop"})  # the shop whose annotations they are (its deletion: below)
        try:
            earlier = _pair("shop", b"earlier")
            await annotations.insert_with_images(db, [earlier])
            # The second pair's annotation takes an id that is already stored: the write fails after the first
            # pair and the second image have landed, and those must be removed again.
            clash = _pair("shop", b"clash")
            clash[0]["_id"] = earlier[0]["_id"]
            request = [_pair("shop", b"first"), clash]
            with pytest.raises(ClientBulkWriteException) as failed:
                await annotations.insert_with_images(db, request)
            assert [e["idx"] for e in failed.value.write_errors] == [3]  # the clashing annotation, after 3 writes
            kept = await annotations.get(db, "shop", earlier[0]["_id"])
            return await _counts(db), kept["image"]["id"] == earlier[1]["_id"]
        finally:
            await client.close()

    assert asyncio.run(run()) == ((1, 1), True)  # only the earlier request's pair, untouched


def test_a_shop_deleted_while_its_photos_were_read_keeps_nothing(mongo_server, mongo_database):
    async def run():
        client = open_client(mongo_server.uri)
        db = client[mongo_database]
        await db.accounts.insert_one({"_id": "leaving"})
        try:
            await accounts.mark_leaving(db, "leaving")  # its deletion began while the request read its photos
            with pytest.raises(AccountGone):
                await annotations.insert_with_images(db, [_pair("leaving", b"late")])
            return await _counts(db)
        finally:
            await client.close()

    assert asyncio.run(run()) == (0, 0)
