"""The app factory: `create_app(settings)` builds a fresh app; nothing is opened at import time.

The lifespan opens the process's services (api/services.py: database, models, indexes, image store, HTTP client)
and closes them at shutdown. Tests pass their own Settings, and may pass an already-open inference client or
index store that they share across apps (the app then leaves them open).

    uvicorn --factory api.main:create_app      # settings from KALAS_* environment variables
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api.clients.inference import InferenceClient
from api.core.errors import install_error_handlers
from api.core.headers import SecurityHeaders
from api.core.limits import BodyLimit
from api.core.metrics import install_metrics
from api.core.request_ids import install_request_ids
from api.core.settings import Settings, load_settings
from api.core.spa import mount_console
from api.deps import install_services
from api.routes import ROUTERS, TAGS
from api.routes import health
from api.documented_errors import error_responses
from api.services import open_services
from index import CatalogueStore

API_PREFIX = "/api/v1"
# Declared on the app so every operation in the OpenAPI document shows the error shape; routes add their own.
ERROR_RESPONSES = error_responses()


def create_app(settings: Settings | None = None, *, inference: InferenceClient | None = None,
               indexes: CatalogueStore | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, inference=inference, indexes=indexes) as services:
            install_services(app, services)
            yield

    # The API's documentation page with Swagger UI's files served from the installed package, not a CDN: it works
    # where the service cannot reach the internet, and no third party's script runs beside the shop's key.
    app = FastAPIOffline(
        static_url=f"{API_PREFIX}/docs-assets",
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
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes,
                       max_batch_bytes=settings.max_upload_bytes * settings.max_batch)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)  # /healthz, /readyz and /metrics sit outside the shops' API
    install_metrics(app)
    mount_console(app, settings.web_dist, API_PREFIX)
    app.add_middleware(SecurityHeaders)
    install_request_ids(app)
    return app
