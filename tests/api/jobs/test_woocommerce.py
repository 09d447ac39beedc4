"""The worker's catalogue step (api/jobs/woocommerce.py) on the real database and models: a store product's
photo enters the shop's similar-item catalogue, and a disk that cannot take it is a retryable job failure that
leaves nothing behind."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.clients.in_process import InProcessClient
from api.domain.errors import DomainError
from api.jobs.woocommerce import add_to_catalogue
from api.services import open_services
from tests.api.conftest import make_settings
from tests.support.data_dirs import files_under

ACCOUNT, INTEGRATION = "a1b2c3", "d4e5f6"
PRODUCT = {"id": 17, "name": "Linen shirt", "permalink": "https://shop.example/linen-shirt"}


def _add(mongo_server, mongo_database, served_models, tmp_path: Path, image_dir: Path, photo: bytes):
    """(catalogue product id or None, the DomainError or None, (products, images) stored afterwards)."""
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", image_dir=image_dir)

    async def go():
        inference = InProcessClient(dict(served_models))
        product_id = failure = None
        try:
            async with open_services(settings, inference=inference) as services:
                try:
                    product_id = await add_to_catalogue(services, {"account": ACCOUNT, "integration": INTEGRATION},
                                                        PRODUCT, photo)
                except DomainError as error:
                    failure = error
                return product_id, failure, (await services.db.products.count_documents({}),
                                             await services.db.images.count_documents({}))
        finally:
            await inference.aclose()

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
