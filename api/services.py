"""What a process opens once and every request or job shares, as one typed object.

`open_services(settings)` opens the database (and makes its indexes), the inference client, the index store, the
image store and the HTTP client, and closes what it opened. The API's lifespan (api/main.py) and the worker
(api/worker.py) both call it; routes receive the `Services` through api/deps.py, jobs as an argument. Nothing
else reads `app.state`.

Tests may pass an inference client or index store they already opened and share across apps: those are left open.
"""
from __future__ import annotations

import logging
import asyncio
import tempfile
from pathlib import Path
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient
from api.core.guessing import ADDRESS_FREE, GuessThrottle, SharedGuessThrottle
from api.core.ratelimit import RateLimiter, SharedRateLimiter
from api.core.remembered import Remembered
from api.core.settings import Settings
from api.data.db import ensure_indexes, open_client
from api.data.images import ImageFiles, ImageStore
from api.data.images_gridfs import GridFsImages
from api.domain.catalogue import Catalogues
from api.domain.errors import ModelUnavailable
from api.domain.gallery import DemoGallery
from api.domain.shop_models import ShopModels
from api.integrations.vault import Vault
from api.intake.fetch import SafeHttp
from handlers.text_encoder import TextEncoder
from index import CatalogueStore

log = logging.getLogger(__name__)

# Keys and accounts are read on every request and change rarely: each process remembers them a few seconds,
# sparing a database round trip per request. Revoking a key through this process forgets every remembered key
# at once; a key revoked through another API process stops working here within KEY_CACHE_S. Accounts never
# change through this API once created.
KEY_CACHE_S = 5.0
ACCOUNT_CACHE_S = 30.0
# Most shops register no callback; remembering each shop's list a few seconds spares a database query per
# annotation. This process forgets a shop's list when the shop changes it here; another API process sees the
# change within TARGETS_CACHE_S.
TARGETS_CACHE_S = 10.0


@dataclass(frozen=True)
class Memory:
    """This process's short memories of what every request reads (api/core/remembered.py)."""

    keys: Remembered[str, dict] = field(default_factory=lambda: Remembered(KEY_CACHE_S))  # key hash -> live key
    accounts: Remembered[str, dict] = field(default_factory=lambda: Remembered(ACCOUNT_CACHE_S))
    callback_targets: Remembered[str, list[dict]] = field(default_factory=lambda: Remembered(TARGETS_CACHE_S))
    # (shop, embedder digest) pairs whose stored vectors this process has had checked (api/domain/reembedder.py)
    reembed_checked: set[tuple[str, str]] = field(default_factory=set)
    # failed credentials (api/core/guessing.py): per account as tried from an address, and per address
    guesses: GuessThrottle = field(default_factory=GuessThrottle)
    guessing_addresses: GuessThrottle = field(default_factory=lambda: GuessThrottle(free=ADDRESS_FREE))
    # (integration, store product) -> the lock its catalogue entry is made under (api/integrations/catalogue_import.py)
    store_entries: dict[tuple[str, int], asyncio.Lock] = field(default_factory=dict)


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: AsyncDatabase
    inference: InferenceClient | None  # None when the server has no models configured
    catalogues: Catalogues  # each shop's similar-item index, kept in step with the database
    images: ImageStore  # where stored images' bytes go
    http: SafeHttp  # every outgoing request to a URL a shop gave (photos, callbacks, stores)
    vault: Vault  # seals the secrets shops give us
    gallery: DemoGallery
    rate_limiter: RateLimiter
    memory: Memory
    shop_models: ShopModels = field(default_factory=ShopModels)  # each shop's own model, loaded per version

    @property
    def models(self) -> InferenceClient:
        """The inference client; ModelUnavailable when the server has none configured."""
        if self.inference is None:
            raise ModelUnavailable("no model is configured on this server: set KALAS_INFERENCE_URL or "
                                   "KALAS_MODEL_STORE", "models_not_configured")
        return self.inference


def open_inference(settings: Settings) -> InferenceClient | None:
    """TorchServe over HTTP, or the archives in this process (torch is imported only then); None without either."""
    if settings.inference_url:
        from api.clients.inference import TorchServeClient

        return TorchServeClient(settings.inference_url, key_file=settings.torchserve_key_file)
    if settings.model_store:
        from api.clients.in_process import InProcessClient

        return InProcessClient.from_model_store(settings.model_store)
    return None  # routes that need the models answer 503 saying what to configure


def open_text_encoder(settings: Settings) -> TextEncoder | None:
    """The text encoder text search uses; None (logged: text search then answers 503 saying why) without one."""
    if settings.text_encoder is None:
        return None
    try:
        return TextEncoder.load(settings.text_encoder)
    except (OSError, ValueError) as error:
        log.warning("text search is off: %s", error)
        return None


def open_rate_limiter(settings: Settings, db: AsyncDatabase) -> RateLimiter:
    if settings.limits_store == "database":
        return SharedRateLimiter(db, settings.rate_limit_per_minute, settings.rate_limit_burst)
    return RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)


def open_memory(settings: Settings, db: AsyncDatabase) -> Memory:
    if settings.limits_store == "database":  # failed credentials counted once, whichever replica sees them
        return Memory(guesses=SharedGuessThrottle(db), guessing_addresses=SharedGuessThrottle(db, free=ADDRESS_FREE))
    return Memory()


def open_image_store(settings: Settings, db: AsyncDatabase) -> ImageStore:
    return GridFsImages(db) if settings.image_store == "gridfs" else ImageFiles(settings.image_dir)


class UnusableDirectory(RuntimeError):
    """A data directory of the settings that this process cannot make or write: it does not start."""


def usable_directory(path: Path, setting: str) -> None:
    """Made if missing and written to once, or the process refuses to start naming the setting (an index directory
    it cannot write answered every search 500 and started all the same)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UnusableDirectory(f"{setting}={path} cannot be used: {error.strerror or error}; give a directory this "
                                "process may create and write") from None


@asynccontextmanager
async def open_services(settings: Settings, *, inference: InferenceClient | None = None,
                        indexes: CatalogueStore | None = None, text_search: bool = True) -> AsyncIterator[Services]:
    """`text_search=False`: no text encoder (a process that answers no search, the worker: its sentence model holds
    194 MiB and takes 0.3 s to load; measured)."""
    async with AsyncExitStack() as stack:
        client = open_client(settings.mongo_uri)
        stack.push_async_callback(client.close)
        db = client[settings.database]
        await ensure_indexes(db)  # also proves the database answers before the first request
        if inference is None:
            inference = open_inference(settings)
            if inference is not None:
                stack.push_async_callback(inference.aclose)
        if text_search and inference is not None and inference.text_encoder is None:
            inference.text_encoder = open_text_encoder(settings)
        if indexes is None:
            usable_directory(settings.index_dir, "KALAS_INDEX_DIR")
            indexes = CatalogueStore(settings.index_dir)
        if settings.image_store == "directory":
            usable_directory(settings.image_dir, "KALAS_IMAGE_DIR")
        catalogues = Catalogues(indexes)
        stack.push_async_callback(catalogues.aclose)
        http = SafeHttp(timeout_s=settings.fetch_timeout_s, max_bytes=settings.max_upload_bytes,
                        allow_origins=settings.fetch_allow_origins)
        stack.push_async_callback(http.aclose)
        yield Services(settings=settings, db=db, inference=inference, catalogues=catalogues,
                       images=open_image_store(settings, db), http=http,
                       vault=Vault.from_secret_key(settings.secret_key), gallery=DemoGallery(settings.demo_data_dir),
                       rate_limiter=open_rate_limiter(settings, db), memory=open_memory(settings, db))
