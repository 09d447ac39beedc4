"""What `open_services` opens for each kind of process (api/services.py)."""
from __future__ import annotations

import asyncio

from api.clients.in_process import InProcessClient
from api.services import open_services
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
