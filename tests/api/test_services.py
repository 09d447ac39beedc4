"""What `open_services` opens for each kind of process (api/services.py)."""
from __future__ import annotations

import asyncio

from api.clients.in_process import InProcessClient
from api.services import UnusableDirectory, open_services
from tests.api.conftest import make_settings


def test_a_process_that_searches_no_text_loads_no_text_encoder(mongo_server, mongo_database, tmp_path, served_models):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")

    async def encoder(text_search: bool):
        inference = InProcessClient(dict(served_models))
        try:
            async with open_services(settings, inference=inference, text_search=text_search) as services:
                return services.inference.text_encoder
        finally:
            await inference.aclose()

    assert asyncio.run(encoder(text_search=False)) is None  # the worker's (api/worker.py)
    api_encoder = asyncio.run(encoder(text_search=True))
    assert api_encoder is not None and api_encoder.query("striped shirt").vector.shape[0] > 0


def test_a_directory_the_process_cannot_use_is_refused_at_start_naming_its_setting(mongo_server, mongo_database,
                                                                                   tmp_path):
    """An index or image directory that cannot be made or written (here: under a file) stops the start, naming the
    setting, instead of a service that answers every search 500."""
    import pytest

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    async def start(**dirs):
        async with open_services(make_settings(mongo_server.uri, mongo_database, **dirs), inference=None):
            pass

    with pytest.raises(UnusableDirectory) as refused:
        asyncio.run(start(index_dir=blocker / "indexes"))
    assert str(refused.value).startswith(f"KALAS_INDEX_DIR={blocker / 'indexes'} cannot be used: ")
    with pytest.raises(UnusableDirectory) as refused:
        asyncio.run(start(index_dir=tmp_path / "indexes", image_dir=blocker / "images"))
    assert str(refused.value).startswith(f"KALAS_IMAGE_DIR={blocker / 'images'} cannot be used: ")
