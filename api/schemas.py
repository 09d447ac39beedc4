"""Request and response bodies. Requests refuse unknown fields, so a misspelt field is an error, not ignored."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.core.settings import Settings
from api.core.text import unplain
from api.shop_schemas import ShopTermsOut

T = TypeVar("T")
def _plain(value: str) -> str:
    if problem := unplain(value):
        raise ValueError(f"{problem}: remove it")
    return value


def _metadata_key(value: str) -> str:
    if value.startswith("$") or "." in value:
        raise ValueError(f"{value[:40]!r} may not start with '$' or hold '.' (MongoDB reads those as operators and "
                         "paths): use letters, digits, '-' or '_'")
    return _plain(value)


# One line of a shop's text: no control characters (refused, not stripped, so nothing is stored other than sent).
Text = Annotated[str, AfterValidator(_plain)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank: give it some text, or leave it out")
    return value


def text(min_length: int, max_length: int):
    """`Text` of min_length..max_length characters, and when it must have some, not only blanks ("   " is no title
    or SKU). The bounds sit on the string itself: put on `Text | None`, pydantic checks them after the validator and
    words a long string as "at most N items"."""
    checks = [AfterValidator(_plain)] + ([AfterValidator(_not_blank)] if min_length > 0 else [])
    return Annotated[str, Field(min_length=min_length, max_length=max_length), *checks]


Title = text(1, 300)  # a product's name
TITLE_HELP = ("the product's name, where known: a shop model that learned its shop's names reads it beside the photo "
              "(the answer's `shop.named` says whether it did)")


MAX_METADATA_KEYS = 50
Metadata = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_metadata_key)],
         Annotated[str, Field(max_length=1000), AfterValidator(_plain)]],
    Field(max_length=MAX_METADATA_KEYS, description="at most 50 entries; keys of 1-64 characters without '$' or '.', "
                                                    "values of at most 1,000; no control characters")]
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value[:60]!r} is not an e-mail address (name@domain.tld, without spaces)")
    return value


Email = Annotated[str, Field(max_length=254, examples=["owner@shop.example"], json_schema_extra={"format": "email"}),
                  AfterValidator(_email)]
# A scheme is case-insensitive (RFC 3986 3.1; a phone's keyboard writes "Https://"): spelled out, as JavaScript's
# and JSON Schema's patterns have no inline flag.
MAX_URL = 2048
HttpUrl = Annotated[str, Field(pattern=r"^[hH][tT][tT][pP][sS]?://", max_length=MAX_URL,
                               examples=["https://shop.example/img/tee.jpg"])]


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
    shop_name: Text = Field(min_length=1, max_length=120, examples=["Tee Shop"])


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


class AccountDeleteIn(Request):
    password: str = Field(min_length=1, max_length=200, description="the account's password, entered again")


class AccountDeletedOut(Response):
    deleted: dict[str, int] = Field(description="what was deleted: documents per collection, image files, the index",
                                    examples=[{"products": 120, "annotations": 340, "image_files": 460, "index": 1}])


class KeyIn(Request):
    name: Text = Field(min_length=1, max_length=80, examples=["catalogue sync script"])


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
MAX_SIDE = 100_000


class Crop(Request):
    """A box in the (EXIF-upright) image's pixels: left, top, width, height."""

    # Bounded far above any photo's side (40 megapixels at most), and far inside the database's integers.
    x: int = Field(ge=0, le=MAX_SIDE, examples=[10])
    y: int = Field(ge=0, le=MAX_SIDE, examples=[20])
    width: int = Field(gt=0, le=MAX_SIDE, examples=[200])
    height: int = Field(gt=0, le=MAX_SIDE, examples=[260])


class ImageUrlIn(Request):
    url: HttpUrl
    crop: Crop | None = None
    title: Title | None = Field(None, examples=["Herren Laufschuh Nova, schwarz"], description=TITLE_HELP)


# Images in one batch: the one number is Settings.max_batch (KALAS_MAX_BATCH). The schema states its default, which the
# route enforces (413 past it); validation refuses only past the most it may be set to, before the route is reached.
MAX_BATCH = Settings.model_fields["max_batch"].default
MAX_BATCH_SETTABLE = next(m.le for m in Settings.model_fields["max_batch"].metadata if hasattr(m, "le"))


class ImageUrlBatchIn(Request):
    items: list[ImageUrlIn] = Field(min_length=1, max_length=MAX_BATCH_SETTABLE, json_schema_extra={"maxItems": MAX_BATCH},
                                    description=f"at most {MAX_BATCH} images (the server's KALAS_MAX_BATCH, {MAX_BATCH} "
                                                "unless its operator set another); more is answered 413")


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
    id: str = Field(examples=["3f1c9a7be20d46a58c0e9b71"])
    url: str = Field(description="signed; works in an <img> tag without headers until it expires",
                     examples=["/api/v1/images/3f1c9a7be20d46a58c0e9b71?expires=1767229200&signature=4cf0994d…"])
    width: int = Field(examples=[800])
    height: int = Field(examples=[1066])


class ReviewIn(Request):
    """A person's correction: taxonomy labels (GET /taxonomy), or the names an annotation shows, in any case;
    stored as labels, which the training command reads."""

    category: str = Field(min_length=1, max_length=80, examples=["polo"])
    attributes: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=80)]] = Field(
        default_factory=dict, max_length=10, examples=[{"gender": "men", "usage": "casual", "season": "summer"}])
    colours: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=8,
                                                               examples=[["navy", "White"]])
    shop: ReviewShopTermsIn | None = Field(None, description=(
        "the shop's own category and tags for a store product's annotation (GET /shop-model lists them): its catalogue "
        "product takes them, its model retrains, and they are written to the store by their existing term ids"))


class ReviewShopTerms(Response):
    category: str | None = Field(examples=["Herren-Oberteile"])
    tags: list[str] = Field(examples=[["gestreift"]])


class ReviewOut(Response):
    id: str
    annotation_id: str
    category: str = Field(examples=["polo"])
    attributes: dict[str, str] = Field(examples=[{"gender": "men", "usage": "casual"}])
    colours: list[str] = Field(examples=[["navy", "white"]])
    reviewer: str = Field(description="the account e-mail, or the API key's prefix, that made the correction",
                          examples=["owner@shop.example"])
    shop: ReviewShopTerms | None = Field(None, description="the shop's own terms the correction gave, if any")
    created: datetime


class PolicyOutcome(Response):
    state: Literal["applied", "held"] = Field(description="held: not sure enough, nothing written; waits for review")
    category: str | None = Field(description="the category written (the shop's word for it), or null when held")
    tags: list[str]
    level: Literal["leaf", "group", "shop"] | None = Field(description="a category, its group, or the shop's own term")


class AnnotationOut(Response):
    id: str
    image: ImageOut
    source: dict[str, str] = Field(examples=[{"kind": "upload", "filename": "tee.jpg", "title": "Linen shirt"}],
                                   description=(
        "where the photo came from: `kind` (upload, url, woocommerce) and its `filename`, its `url` or its store "
        "product (`integration`, `product_id`, `page`: the product's page in the store); `title`: the product's "
        "name, where the request or the store gave one"))
    crop: Crop | None
    category: list[Scored]
    groups: list[Scored] = Field(default_factory=list, description=(
        "the taxonomy's groups above the best category, nearest first, each scored with the probability of all its "
        "categories together (e.g. Footwear when it is unclear which shoe)"))
    attributes: dict[str, list[Scored]]
    colours: list[Colour]
    model: ModelInfo
    created: datetime
    review: ReviewOut | None = None
    policy: PolicyOutcome | None = Field(None, description="for a store product: what the store's tagging policy did")
    shop: ShopTermsOut | None = Field(None, description="the shop's own categories and tags, when it has a model")
    left_queue: str | None = Field(None, description=(
        "for a store product's annotation no longer in the review queue unreviewed: why (annotated again for new "
        "photos, or the product is in the store's trash)"), examples=["annotated again for new photos"])


class BatchItemOut(Response):
    """One image of a batch: its annotation, or the error that image alone got."""

    index: int
    annotation: AnnotationOut | None = None
    error: ErrorDetail | None = None


class BatchOut(Response):
    items: list[BatchItemOut]


# --- catalogue and similar items ----------------------------------------------------------------------------
# A shop's own category or tag name, as its store names it ("Herren > Hemden"): what its own model learns from. Kept
# without the blanks around it (a name of blanks alone is refused by `text`).
ShopTerm = Annotated[text(1, 100), AfterValidator(str.strip)]
ShopCategories = Annotated[list[ShopTerm], Field(max_length=10, examples=[["Herren-Oberteile"]], description=(
    "the shop's own categories (at most 10 names of 1-100 characters); its model learns the first"))]
ShopTags = Annotated[list[ShopTerm], Field(max_length=30, examples=[["gestreift"]],
                                           description="the shop's own tags (at most 30 names of 1-100 characters)")]


class ReviewShopTermsIn(Request):
    """The shop's own terms, by their names in any case: each must be one the shop's products carry."""

    category: ShopTerm | None = Field(None, examples=["Herren-Oberteile"])
    tags: ShopTags = Field(default_factory=list)


ReviewIn.model_rebuild()

Sku = text(1, 100)


class ProductFields(Request):
    title: Title = Field(examples=["Navy crew-neck tee"])
    sku: Sku | None = Field(None, examples=["TEE-NAVY-M"])
    url: HttpUrl | None = Field(None, description="the product's page in the shop")
    metadata: Metadata = Field(default_factory=dict, examples=[{"brand": "Acme"}])
    categories: ShopCategories = Field(default_factory=list)
    tags: ShopTags = Field(default_factory=list)


class ProductIn(ProductFields):
    image_urls: list[HttpUrl] = Field(min_length=1, max_length=8)


class ProductPatch(Request):
    title: Title | None = None
    sku: Sku | None = None
    url: HttpUrl | None = None
    metadata: Metadata | None = None
    categories: ShopCategories | None = None
    tags: ShopTags | None = None
    image_urls: list[HttpUrl] | None = Field(None, min_length=1, max_length=8, description="replaces every image")


class ProductImportIn(Request):
    products: list[ProductIn] = Field(min_length=1, max_length=100)


class ProductOut(Response):
    id: str = Field(examples=["6650c3f2a1b4c5d6e7f80912"])
    sku: str | None = Field(examples=["TEE-NAVY-M"])
    title: str = Field(examples=["Navy crew-neck tee"])
    url: str | None = Field(examples=["https://shop.example/products/navy-tee"])
    metadata: dict[str, str] = Field(examples=[{"brand": "Acme"}])
    categories: list[str] = Field(default_factory=list, examples=[["Herren-Oberteile"]])
    tags: list[str] = Field(default_factory=list, examples=[["gestreift"]])
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
    score: float = Field(description="cosine similarity, 1 is identical", examples=[0.87])
    product: ProductOut


class SimilarOut(Response):
    catalogue: Literal["shop", "demo"]
    items: list[SimilarItem]
    model: ModelInfo


class SearchItem(Response):
    score: float = Field(description="the photo's cosine to the query plus the weighted share of the query's words "
                                     "in the product's own title, tags and categories", examples=[0.71])
    photo: float = Field(description="cosine of the product's best photo to the query (0: matched by its words only)")
    words: float = Field(description="share of the query's words in the product's own text, 0 to 1")
    product: ProductOut


class SearchOut(Response):
    query: str
    catalogue: Literal["shop", "demo"]
    items: list[SearchItem]
