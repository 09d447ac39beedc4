"""Request and response bodies. Requests refuse unknown fields, so a misspelt field is an error, not ignored."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, examples=["owner@shop.example"])]
HttpUrl = Annotated[str, Field(pattern=r"^https?://", max_length=2048, examples=["https://shop.example/img/tee.jpg"])]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(Response):
    code: str = Field(examples=["invalid_request"])
    message: str = Field(examples=["'crop.width': Input should be greater than 0"])


class ErrorOut(Response):
    error: ErrorDetail


class Page(Response, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching, over all pages")
    offset: int
    limit: int


# --- accounts, sessions, keys -------------------------------------------------------------------------------
class SignupIn(Request):
    email: Email
    password: str = Field(min_length=10, max_length=256, examples=["correct horse battery"])
    shop_name: str = Field(min_length=1, max_length=120, examples=["Tee Shop"])


class LoginIn(Request):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class AccountOut(Response):
    id: str
    email: str
    shop_name: str
    created: datetime


class SessionOut(Response):
    token: str = Field(description="send as `Authorization: Bearer <token>`", examples=["kis_3kq..."])
    expires: datetime
    account: AccountOut


class KeyIn(Request):
    name: str = Field(min_length=1, max_length=80, examples=["catalogue sync script"])


class KeyOut(Response):
    id: str
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it", examples=["ki_1a2b3c4d"])
    created: datetime
    last_used: datetime | None
    revoked: datetime | None


class KeyCreated(KeyOut):
    secret: str = Field(description="the whole key, shown only in this response: send it as `X-API-Key`",
                        examples=["ki_1a2b3c4d_Jx1..."])


# --- images and annotations ---------------------------------------------------------------------------------
class Crop(Request):
    """A box in the (EXIF-upright) image's pixels: left, top, width, height."""

    x: int = Field(ge=0, examples=[10])
    y: int = Field(ge=0, examples=[20])
    width: int = Field(gt=0, examples=[200])
    height: int = Field(gt=0, examples=[260])


class ImageUrlIn(Request):
    url: HttpUrl
    crop: Crop | None = None


class ImageUrlBatchIn(Request):
    items: list[ImageUrlIn] = Field(min_length=1, max_length=256)


class Scored(Response):
    label: str = Field(examples=["tshirt"])
    name: str = Field(examples=["T-Shirt"])
    score: float = Field(examples=[0.93])


class Colour(Response):
    name: str = Field(examples=["Navy Blue"])
    hex: str = Field(examples=["#1F2A44"])
    share: float = Field(examples=[0.62])


class ModelInfo(Response):
    name: str = Field(examples=["fashion-attributes"])
    version: str = Field(examples=["1.0"])
    digest: str | None = Field(None, description="identifies the exact weights and photo framing that answered; "
                               "null for answers stored before digests were kept", examples=["9f2c…"])


class ImageOut(Response):
    id: str
    url: str = Field(description="signed; works in an <img> tag without headers until it expires")
    width: int
    height: int


class ReviewIn(Request):
    """A person's correction: taxonomy labels, as the training command reads them."""

    category: str = Field(min_length=1, max_length=80, examples=["tshirt"])
    attributes: dict[str, str] = Field(default_factory=dict, examples=[{"gender": "men", "usage": "casual", "season": "summer"}])
    colours: list[str] = Field(default_factory=list, max_length=8, examples=[["Navy Blue"]])


class ReviewOut(Response):
    id: str
    annotation_id: str
    category: str
    attributes: dict[str, str]
    colours: list[str]
    reviewer: str = Field(description="the account e-mail, or the API key's prefix, that made the correction")
    created: datetime


class AnnotationOut(Response):
    id: str
    image: ImageOut
    source: dict[str, str] = Field(examples=[{"kind": "upload", "filename": "tee.jpg"}])
    crop: Crop | None
    category: list[Scored]
    attributes: dict[str, list[Scored]]
    colours: list[Colour]
    model: ModelInfo
    created: datetime
    review: ReviewOut | None = None


class BatchItemOut(Response):
    """One image of a batch: its annotation, or the error that image alone got."""

    index: int
    annotation: AnnotationOut | None = None
    error: ErrorDetail | None = None


class BatchOut(Response):
    items: list[BatchItemOut]


# --- catalogue and similar items ----------------------------------------------------------------------------
class ProductFields(Request):
    title: str = Field(min_length=1, max_length=300, examples=["Navy crew-neck tee"])
    sku: str | None = Field(None, min_length=1, max_length=100, examples=["TEE-NAVY-M"])
    url: HttpUrl | None = Field(None, description="the product's page in the shop")
    metadata: dict[str, str] = Field(default_factory=dict, examples=[{"brand": "Acme"}])


class ProductIn(ProductFields):
    image_urls: list[HttpUrl] = Field(min_length=1, max_length=8)


class ProductPatch(Request):
    title: str | None = Field(None, min_length=1, max_length=300)
    sku: str | None = Field(None, min_length=1, max_length=100)
    url: HttpUrl | None = None
    metadata: dict[str, str] | None = None
    image_urls: list[HttpUrl] | None = Field(None, min_length=1, max_length=8, description="replaces every image")


class ProductImportIn(Request):
    products: list[ProductIn] = Field(min_length=1, max_length=100)


class ProductOut(Response):
    id: str
    sku: str | None
    title: str
    url: str | None
    metadata: dict[str, str]
    images: list[ImageOut]
    created: datetime | None = Field(description="null for items of the demo gallery")
    updated: datetime | None = Field(description="null for items of the demo gallery")


class ImportItemOut(Response):
    index: int
    product: ProductOut | None = None
    error: ErrorDetail | None = None


class ImportOut(Response):
    created: int
    failed: int
    items: list[ImportItemOut]


class SimilarUrlIn(ImageUrlIn):
    k: int = Field(10, ge=1, le=100)
    catalogue: Literal["shop", "demo"] = "shop"


class SimilarItem(Response):
    score: float = Field(description="cosine similarity, 1 is identical")
    product: ProductOut


class SimilarOut(Response):
    catalogue: Literal["shop", "demo"]
    items: list[SimilarItem]
    model: ModelInfo


# --- callbacks ---------------------------------------------------------------------------------------------
CallbackEvent = Literal["annotation.created", "annotation.reviewed"]


class CallbackIn(Request):
    url: HttpUrl
    events: list[CallbackEvent] = Field(default_factory=lambda: ["annotation.created"], min_length=1)


class CallbackOut(Response):
    id: str
    url: str
    events: list[str]
    created: datetime


class CallbackCreated(CallbackOut):
    secret: str = Field(description="verifies `X-Kalas-Signature`; shown only in this response")


class DeliveryOut(Response):
    id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_status: int | None
    last_error: str | None
    created: datetime
    delivered: datetime | None
