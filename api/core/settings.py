"""The one Settings object: read from the environment (or given by a test), validated at start-up.

Every value has a working default for development on one machine. Outside development the service refuses
to start with the placeholder secret, because signed image URLs and callback signatures would be forgeable.
Environment variables are `KALAS_<FIELD>` in upper case (pydantic-settings); a `KALAS_` name that is no setting
is refused, so a typo cannot go unnoticed. `load_settings()` turns every refusal into one `SettingsError`.
"""
from __future__ import annotations

import re

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from kalas.dataset import shared_data

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_SECRET = "change-me-in-production"
# The largest upload the API can be set to accept: far above any product photo, and it bounds what one request
# (a batch of up to max_batch photos) holds in memory.
MAX_UPLOAD_LIMIT = 15 * 1024 * 1024
ENV_PREFIX = "KALAS_"
# KALAS_ variables that are not the API's, left alone: where the training and benchmark scripts read the shared
# data (kalas/dataset.py), and what compose.yaml substitutes (image tag, published port).
OTHER_VARIABLES = frozenset({"KALAS_SHARED_DATA", "KALAS_IMAGE_TAG", "KALAS_API_PORT", "KALAS_API_PORTS"})


class SettingsError(RuntimeError):
    """The configuration cannot work; the message names the variable to fix."""


class _KnownVariablesOnly(EnvSettingsSource):
    """pydantic-settings' environment source, refusing `KALAS_*` names that are no setting (it ignores them)."""

    def __call__(self) -> dict:
        fields = self.settings_cls.model_fields
        unknown = sorted(name.upper() for name in self.env_vars if name.upper().startswith(ENV_PREFIX)
                         and name.upper() not in OTHER_VARIABLES and name[len(ENV_PREFIX):].lower() not in fields)
        if unknown:
            known = ", ".join(sorted(ENV_PREFIX + field.upper() for field in fields))
            raise SettingsError(f"unknown setting {', '.join(unknown)}; known: {known}")
        return super().__call__()


_ORIGIN = re.compile(r"[A-Za-z0-9._-]+:[0-9]{1,5}|\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}")


class Settings(BaseSettings):
    """Everything the API and the worker read from their environment: `KALAS_<FIELD>` in upper case."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = Field(PLACEHOLDER_SECRET, description="signs image URLs; at least 32 characters in production")
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    database: str = "kalas_iris"
    # Exactly one way to reach the models: TorchServe over HTTP, or the archives run in-process.
    inference_url: str | None = None
    model_store: Path | None = None
    # With TorchServe's token authorization on (production): its key_file.json, re-read when a key changes.
    torchserve_key_file: Path | None = None
    index_dir: Path = ROOT / "var" / "indexes"
    image_store: Literal["directory", "gridfs"] = Field(
        "directory", description="where stored images' bytes are kept: `directory` (image_dir, one host) or `gridfs` "
                                 "(the same MongoDB, which every API replica reaches)")
    image_dir: Path = Field(ROOT / "var" / "images",
                            description="the image directory of image_store=directory (api/data/images.py); every "
                                        "process that stores or serves images must see the same directory")
    demo_catalogue: str = Field("demo", description="the catalogue searched when a shop asks for the demo gallery")
    demo_data_dir: Path = Field(default_factory=lambda: shared_data() / "fashion-products",
                                description="the shared-data-layout directory the demo gallery was built from")
    text_encoder: Path | None = Field(ROOT / "checkpoints" / "fashion-text",
                                      description="the text encoder text search uses (scripts/train_text.py); "
                                                  "a missing directory leaves text search answering 503")

    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, le=MAX_UPLOAD_LIMIT)
    max_batch: int = Field(16, gt=0, le=256)
    session_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    image_url_ttl_s: int = Field(24 * 3600, gt=0)
    job_history_days: float = Field(30.0, gt=0, description=(
        "finished jobs, their steps and received webhook deliveries are kept this long, then deleted by the worker's "
        "daily housekeeping job (api/jobs/housekeeping.py)"))
    store_sync_minutes: float = Field(15.0, ge=0, le=7 * 24 * 60, description=(
        "every connected store is synced this often by the worker (api/jobs/store_syncs.py): what its webhooks never "
        "delivered is annotated without anyone asking; 0: only when asked (the console, scripts/sync_woocommerce.py)"))
    rate_limit_per_minute: int = Field(600, gt=0)
    rate_limit_burst: int = Field(60, gt=0)
    limits_store: Literal["process", "database"] = Field(
        "process", description="where rate limits and failed-credential counts are kept: `process` (each replica its "
                               "own) or `database` (shared by every replica; one round trip per request)")

    fetch_timeout_s: float = Field(10.0, gt=0)
    # Hosts ("host:port") a shop's images may be fetched from although they resolve to a private address,
    # e.g. an intranet image server. Empty by default: every private, loopback and link-local address is refused.
    # Comma-separated in the environment.
    fetch_allow_origins: Annotated[frozenset[str], NoDecode] = frozenset()


    web_dist: Path = ROOT / "web" / "dist"

    @field_validator("fetch_allow_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return frozenset(filter(None, (o.strip() for o in value.split(",")))) if isinstance(value, str) else value

    @field_validator("fetch_allow_origins")
    @classmethod
    def _host_and_port(cls, value: frozenset[str]) -> frozenset[str]:
        """Each a "host:port" as a request's address is matched (a URL or a host alone would match nothing)."""
        wrong = sorted(origin for origin in value if not _ORIGIN.fullmatch(origin))
        if wrong:
            raise ValueError(f"each origin is host:port, such as 127.0.0.1:8080 or shop.internal:443, not {wrong[0]!r}")
        return frozenset(origin.lower().replace("[", "").replace("]", "") for origin in value)  # IPv6 as httpx names it

    @field_validator("mongo_uri")
    @classmethod
    def _mongo_uri(cls, value: str) -> str:
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv:// (e.g. mongodb://127.0.0.1:27017)")
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.environment != "development":
            if self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    f"KALAS_SECRET_KEY must be set to a random value of at least 32 characters outside development "
                    f"(environment={self.environment}); generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
        if self.inference_url and self.model_store:
            raise ValueError("set KALAS_INFERENCE_URL (TorchServe) or KALAS_MODEL_STORE (in-process), not both")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **_: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values given in code (tests), then the environment; no dotenv or secrets directory is read.
        return init_settings, _KnownVariablesOnly(settings_cls)


def load_settings() -> Settings:
    """The settings from the process environment; SettingsError naming each variable to fix."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            (f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: " if e["loc"] else "") + e["msg"] for e in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
