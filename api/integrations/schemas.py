"""Request and response bodies of the integration routes (the rest of the API's live in api/schemas.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from api.integrations.policy import TaggingPolicy
from api.integrations.store import store_home
from api.schemas import HttpUrl, Request, Response


StoreUrl = Annotated[HttpUrl, BeforeValidator(lambda url: url.strip() if isinstance(url, str) else url),
                     AfterValidator(store_home), Field(
    description="the store's home page; its REST API is under /wp-json/wc/v3. An address of its admin pages, login "
                "page or REST API is taken as the home page before it", examples=["https://shop.example"])]
ConsumerKey = Annotated[str, Field(pattern=r"^ck_[A-Za-z0-9]{8,}$", max_length=200,
                                   description="WooCommerce → Settings → Advanced → REST API",
                                   examples=["ck_0123456789abcdef0123456789abcdef01234567"])]
ConsumerSecret = Annotated[str, Field(pattern=r"^cs_[A-Za-z0-9]{8,}$", max_length=200,
                                      examples=["cs_0123456789abcdef0123456789abcdef01234567"])]
WebhookSecret = Annotated[str, Field(min_length=8, max_length=200,
                                     description="the Secret typed into the WooCommerce webhook form")]


class IntegrationIn(Request):
    store_url: StoreUrl
    consumer_key: ConsumerKey
    consumer_secret: ConsumerSecret
    webhook_secret: WebhookSecret


class IntegrationChange(Request):
    """What changes of a connected store; the rest stays. A WooCommerce key is a pair: a new one gives both."""
    store_url: StoreUrl | None = None
    consumer_key: ConsumerKey | None = None
    consumer_secret: ConsumerSecret | None = None
    webhook_secret: WebhookSecret | None = None

    @model_validator(mode="after")
    def _whole(self) -> "IntegrationChange":
        if (self.consumer_key is None) != (self.consumer_secret is None):
            raise ValueError("consumer_key and consumer_secret change together: send both (a new WooCommerce REST API "
                             "key gives both)")
        if self.store_url is None and self.consumer_key is None and self.webhook_secret is None:
            raise ValueError("nothing to change: send store_url, the consumer_key and consumer_secret pair, or "
                             "webhook_secret")
        return self


class WebhooksOut(Response):
    state: Literal["registered", "manual"] = Field(description="manual: the merchant creates the webhooks by hand")
    ids: dict[str, int] = Field(default_factory=dict, description="the store's webhook id per topic")
    created: list[str] = []
    reactivated: list[str] = Field(default_factory=list, description="disabled by the store, made active again")
    error: str | None = Field(None, description="why the webhooks are not the service's own, and what to do")
    unsupported: list[str] = Field(default_factory=list, description=(
        "newer topics the store does not have (product.published: WooCommerce 10.8 and later); the sync finds "
        "what they would have told"))


class SyncSummary(Response):
    at: float = Field(description="when the sync finished (epoch seconds)")
    modified_after: str | None = Field(description="the products listed were modified after this (store time); "
                                                   "null: the store's first sync listed every product")
    listed: int = Field(description="products changed in the store since the sync before")
    queued: int = Field(description="queued for annotation: those the service was not in step with")
    scheduled: int = Field(0, description="the store's scheduled products, looked at again at the next sync")
    published: int = Field(0, description="scheduled at the sync before and published since (by WordPress's cron, "
                                          "which changes no modification time)")
    next_after: str = Field(description="where the next sync starts")


class IntegrationOut(Response):
    id: str
    kind: Literal["woocommerce"]
    store_url: str
    consumer_key: str = Field(description="masked: the prefix and last four characters")
    consumer_secret: str = Field(description="masked")
    webhook_secret: str = Field(description="masked")
    delivery_url: str = Field(description="paste into WooCommerce → Settings → Advanced → Webhooks → Delivery URL, "
                                          "with topics Product created, updated, deleted and restored and API version "
                                          "WP REST API v3 (the service creates them itself when the key may)")
    created: datetime
    reconnected: datetime | None = Field(None, description=(
        "for a store the shop disconnected and connected again, when it was disconnected: the store took back its "
        "former integration (its id and delivery URL, tagging policy, records of writes, and the catalogue entries, "
        "annotations and jobs of its products), and the import brings those entries up to date"))
    last_ping: float | None = Field(None, description="when WooCommerce last pinged the delivery URL (epoch seconds)")
    last_sync: SyncSummary | None = Field(None, description=(
        "the last sync: the worker's own every `store_sync_minutes`, or one asked for"))
    catalogue_import: dict | None = Field(None, description=(
        "the store's catalogue import at connect: state (running; stopped: its job gave up, `reason` says why, and "
        "retrying that job, `job`, goes on from next_page; done), next_page, pages, total, seen, imported, "
        "failed, translations (a multilingual store's products in another language, left out), not_shown (drafts, "
        "private or hidden products, kept out of similar-item search until they are on show)"))
    jobs: dict[str, int] = Field(default_factory=dict, description="jobs by state")
    webhooks: WebhooksOut | None = Field(None, description="the service's webhooks in the store")
    store_language: str | None = Field(None, description=(
        "a multilingual store's language as the service's requests get it (WPML and Polylang give each product a "
        "`lang`): the service reads and writes the store in it, and leaves a product in another language to its "
        "version in it"))


class StepOut(Response):
    at: float
    attempt: int
    step: str
    detail: str
    ok: bool


class JobOut(Response):
    id: str
    kind: str
    product_id: int | None
    state: Literal["queued", "running", "done", "dead", "superseded"]
    reason: str
    attempts: int
    run_after: float
    last_error: str | None
    outcome: str | None
    created: float
    updated: float
    steps: list[StepOut] = []


class DeliveryOut(Response):
    id: str
    delivery_id: str
    topic: str
    product_id: int | None
    received: float
    outcome: str = Field(description="queued | joined a waiting job | already annotated | ignored topic")
    job: JobOut | None = None


class SyncOut(Response):
    job: JobOut


class PolicyOption(Response):
    target: str = Field(examples=["0.97"])
    held_out: dict[str, dict] = Field(default_factory=dict, description=(
        "what this target did on validation photos, per kind of photo (fashion-products: shop photos; clothing: "
        "consumer photos), cross-fitted (each photo scored by a fit made without it): precision of what was applied, "
        "coverage (a category or its group), leaf coverage; `folds`: the same on each half"))


class PolicyOut(Response):
    policy: TaggingPolicy
    options: list[PolicyOption] = Field(description="the targets the served model was calibrated for; empty when "
                                                    "it is not calibrated (nothing is then applied automatically)")
