"""The worker's catalogue step (api/integrations/catalogue.py) on the real database and models: a store product's
photo enters the shop's similar-item catalogue, and a disk that cannot take it is a retryable job failure that
leaves nothing behind."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.catalogue import Catalogues
from api.data.db import open_client
from api.data.images import ImageFiles
from api.inference import InProcessClient
from api.integrations.catalogue import CatalogueFailure, add_to_catalogue
from api.integrations.pipeline import Services
from index import CatalogueStore
from tests.support.data_dirs import files_under

ACCOUNT, INTEGRATION = "a1b2c3", "d4e5f6"
PRODUCT = {"id": 17, "name": "Linen shirt", "permalink": "https://shop.example/linen-shirt"}


def _add(mongo_server, mongo_database, served_models, tmp_path: Path, image_dir: Path, photo: bytes):
    """(catalogue product id or None, the CatalogueFailure or None, (products, images) stored afterwards)."""
    async def go():
        client = open_client(mongo_server.uri)
        db = client[mongo_database]
        inference = InProcessClient(dict(served_models))
        catalogues = Catalogues(CatalogueStore(tmp_path / "indexes"))
        services = Services(db, inference, None, catalogues, ImageFiles(image_dir), 10 * 2**20)
        product_id = failure = None
        try:
            product_id = await add_to_catalogue(services, {"account": ACCOUNT, "integration": INTEGRATION}, PRODUCT,
                                                photo, 10 * 2**20)
        except CatalogueFailure as error:
            failure = error
        try:
            return product_id, failure, (await db.products.count_documents({}), await db.images.count_documents({}))
        finally:
            await inference.aclose()
            await client.close()

    return asyncio.run(go())


@pytest.mark.slow
def test_a_store_photo_enters_the_catalogue_with_its_file(mongo_server, mongo_database, served_models, tmp_path,
                                                          shared_data):
    photo = next((shared_data / "fashion-products" / "images").glob("*.jpg")).read_bytes()
    images = tmp_path / "images"
    product_id, failure, counts = _add(mongo_server, mongo_database, served_models, tmp_path, images, photo)
    assert failure is None and product_id and counts == (1, 1)
    [stored] = files_under(images)
    assert stored.read_bytes() == photo and stored.parent.name == ACCOUNT


@pytest.mark.slow
def test_a_disk_that_cannot_take_the_photo_is_a_retryable_failure_leaving_nothing(mongo_server, mongo_database,
                                                                                  served_models, tmp_path, shared_data):
    photo = next((shared_data / "fashion-products" / "images").glob("*.jpg")).read_bytes()
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")  # the image directory would have to be made under a file
    product_id, failure, counts = _add(mongo_server, mongo_database, served_models, tmp_path, blocker / "images", photo)
    assert product_id is None and failure is not None and failure.retryable
    assert "could not be stored" in str(failure)
    assert counts == (0, 0)
