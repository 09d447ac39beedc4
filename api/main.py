"""The app factory: `create_app(settings)` builds a fresh app; nothing is opened at import time.

The lifespan opens the MongoDB client (and creates indexes), the inference client and the vector index store,
and closes what it opened. Tests pass their own Settings, and may pass an already-open inference client or
index store that they share across apps (the app then leaves them open).

    uvicorn --factory api.main:create_app      # settings from KALAS_* environment variables
"""
from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.callbacks import TARGETS_CACHE_S
from api.catalogue import Catalogues
from api.core.errors import error_body, install_error_handlers
from api.core.limits import BodyLimit
from api.core.ratelimit import RateLimiter
from api.core.remembered import Remembered
from api.core.settings import Settings
from api.core.spa import mount_console
from api.data.db import ensure_indexes, open_client
from api.data.images import ImageFileError, ImageFiles
from api.demo import DemoGallery
from api.deps import ACCOUNT_CACHE_S, KEY_CACHE_S
from api.fetch import SafeHttp
from api.metrics import install_metrics
from api.reembed import Reembedder
from api.routes import ROUTERS, TAGS
from api.routes import health
from api.schemas import error_responses
from index import CatalogueStore

API_PREFIX = "/api/v1"
# Declared on the app so every operation in the OpenAPI document shows the error shape; routes add their own.
ERROR_RESPONSES = error_responses()


def _open_inference(settings: Settings) -> Any:
    if not (settings.inference_url or settings.model_store):
        return None  # routes that need the models answer 503 saying what to configure
    from api.inference import InProcessClient, TorchServeClient

    if settings.inference_url:
        return TorchServeClient(settings.inference_url, key_file=settings.torchserve_key_file)
    return InProcessClient.from_model_store(settings.model_store)


async def _image_file_error(_: Request, error: ImageFileError) -> JSONResponse:
    status = 503 if error.retryable else 500
    return JSONResponse(error_body(status, error.message, error.code), status_code=status)


def _open_indexes(settings: Settings) -> CatalogueStore:
    return CatalogueStore(settings.index_dir)


def create_app(settings: Settings | None = None, *, inference: Any = None, indexes: Any = None) -> FastAPI:
    settings = settings or Settings.from_env(os.environ)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = open_client(settings.mongo_uri)
        db = client[settings.database]
        await ensure_indexes(db)  # also proves the database answers before the first request
        app.state.db = db
        app.state.inference = inference if inference is not None else _open_inference(settings)
        app.state.indexes = indexes if indexes is not None else _open_indexes(settings)
        app.state.catalogues = Catalogues(app.state.indexes)
        app.state.reembedder = Reembedder(app.state.catalogues, app.state.image_files)
        app.state.http = SafeHttp(timeout_s=settings.fetch_timeout_s, max_bytes=settings.max_upload_bytes,
                                  allow_origins=settings.fetch_allow_origins)
        app.state.tasks = set()  # background work (callback deliveries) awaited at shutdown
        try:
            yield
        finally:
            if app.state.tasks:
                await asyncio.wait(app.state.tasks, timeout=settings.callback_timeout_s)
            await app.state.reembedder.aclose()
            await app.state.catalogues.aclose()
            if inference is None and app.state.inference is not None:
                await app.state.inference.aclose()
            if indexes is None and hasattr(app.state.indexes, "close"):
                app.state.indexes.close()
            await app.state.http.aclose()
            await client.close()

    app = FastAPI(
        title="Kalas-Iris API",
        version="1.0",
        description=(
            "Image understanding for clothing shops: categories, attributes, colours and similar products.\n\n"
            "Authenticate scripts with `X-API-Key: <key>` (create keys under /keys) and the console with "
            "`Authorization: Bearer <session token>` (from /auth/login). Every error is "
            '`{"error": {"code": "...", "message": "..."}}`; the message says what to fix.'
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        openapi_tags=[{"name": tag} for tag in TAGS],
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.keys = Remembered(KEY_CACHE_S)  # key hash -> live key: see api/deps.py
    app.state.accounts = Remembered(ACCOUNT_CACHE_S)  # account id -> account
    app.state.demo = DemoGallery(settings.demo_data_dir)
    app.state.callback_targets = Remembered(TARGETS_CACHE_S)  # account id -> its callbacks
    app.state.image_files = ImageFiles(settings.image_dir)
    app.state.inference = app.state.indexes = app.state.db = None
    install_error_handlers(app)
    app.add_exception_handler(ImageFileError, _image_file_error)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes,
                       max_batch_bytes=settings.max_upload_bytes * settings.max_batch)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)  # /healthz, /readyz and /metrics sit outside the shops' API
    install_metrics(app)
    mount_console(app, settings.web_dist, API_PREFIX)
    return app
