"""The shop's catalogue: products with images; their embeddings and the shop's vector index kept in step."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from api.core.limits import json_value
from api.domain import text_search
from api.domain.catalogue import create_product, delete_product, replace_images
from api.core.errors import ApiError, not_found, validation_problems
from api.domain.errors import DomainError, SkuTaken
from api.domain.shop_models import retrain_if_taught
from api.data import products
from api.idempotency import Idempotent
from api.deps import Config, CurrentAccount, Db, Files, Id, Indexes, Models, Offset, Svc, owned, services_of
from api.intake.sources import from_uploads, from_urls
from api.documented_errors import (
    ACCOUNT_DELETED, DEMO_NOT_BUILT, EMPTY_QUERY, FORM_BODY_ERRORS, JSON_BODY_ERRORS, PHOTO_ERRORS, PRODUCT_NOT_FOUND,
    SKU_TAKEN, TEXT_SEARCH_UNAVAILABLE, URL_ERRORS, error_responses,
)
from api.schemas import (
    ErrorDetail, ImportItemOut, ImportOut, Page, ProductFields, ProductImportIn, ProductIn, ProductOut, ProductPatch,
    SearchItem, SearchOut,
)
from api.presenters import json_response, product_out

router = APIRouter(prefix="/products", tags=["products"], route_class=Idempotent)
OwnedProduct = Annotated[dict, owned("product", products.get, "product_id")]


@router.post("", status_code=201, response_model=ProductOut,
             responses=error_responses(*URL_ERRORS, SKU_TAKEN, ACCOUNT_DELETED, *JSON_BODY_ERRORS))
async def add_product(body: ProductIn, request: Request, account: CurrentAccount, db: Db, files: Files,
                      inference: Models, catalogues: Indexes, settings: Config) -> ProductOut:
    """Add a product whose images are at public URLs (fetched by the server)."""
    photos = await from_urls(services_of(request).http, body.image_urls, settings.max_upload_bytes)
    fields = body.model_dump(exclude={"image_urls"})
    created = await create_product(db, files, catalogues, inference, account.id, fields, photos)
    await retrain_if_taught(db, account.id, created)
    return product_out(settings, created)


def _form_fields(title: str, sku: str | None, url: str | None, metadata: str | None, categories: str | None,
                 tags: str | None) -> dict:
    expected = ('`metadata` is a JSON object of strings, e.g. {"brand": "Acme"}; `categories` and `tags` JSON lists '
                'of names, e.g. ["Herren-Oberteile"]')
    try:
        return ProductFields(title=title, sku=sku or None, url=url or None,
                             metadata=json_value(metadata) if metadata else {},
                             categories=json_value(categories) if categories else [],
                             tags=json_value(tags) if tags else []).model_dump()
    except ValidationError as error:
        problems = "; ".join(validation_problems(error.errors(include_url=False)))
        raise ApiError(422, f"invalid product fields: {problems}. {expected}") from None
    except ValueError as error:  # a form field that is not JSON
        raise ApiError(422, f"invalid product fields: not JSON ({error}). {expected}") from None


@router.post("/upload", status_code=201, response_model=ProductOut,
             responses=error_responses(*PHOTO_ERRORS, SKU_TAKEN, ACCOUNT_DELETED, *FORM_BODY_ERRORS))
async def upload_product(account: CurrentAccount, db: Db, files: Files, inference: Models, catalogues: Indexes,
                         settings: Config,
                         images: list[UploadFile] = File(description="1 to 8 photos of the product"),
                         title: str = Form(), sku: str | None = Form(None), url: str | None = Form(None),
                         metadata: str | None = Form(None, description='a JSON object of strings, e.g. {"brand": "Acme"}'),
                         categories: str | None = Form(None, description='the shop\'s categories, a JSON list of names, '
                                                                          'e.g. ["Herren-Oberteile"]'),
                         tags: str | None = Form(None, description='the shop\'s tags, a JSON list of names, '
                                                                  'e.g. ["gestreift"]')) -> ProductOut:
    """Add a product with uploaded images (multipart form)."""
    if not 1 <= len(images) <= 8:
        raise ApiError(422, f"a product has 1 to 8 images; {len(images)} were sent")
    fields = _form_fields(title, sku, url, metadata, categories, tags)
    photos = await from_uploads(images, settings.max_upload_bytes)
    created = await create_product(db, files, catalogues, inference, account.id, fields, photos)
    await retrain_if_taught(db, account.id, created)
    return product_out(settings, created)


@router.post("/import", response_model=ImportOut, responses=error_responses(*JSON_BODY_ERRORS))
async def import_products(body: ProductImportIn, request: Request, account: CurrentAccount, db: Db, files: Files,
                          inference: Models, catalogues: Indexes, settings: Config) -> ImportOut:
    """Add up to 100 products at once; each succeeds or fails alone (see each item's `error`)."""
    items = []
    for position, item in enumerate(body.products):
        try:
            photos = await from_urls(services_of(request).http, item.image_urls, settings.max_upload_bytes)
            stored = await create_product(db, files, catalogues, inference, account.id,
                                          item.model_dump(exclude={"image_urls"}), photos)
            items.append(ImportItemOut(index=position, product=product_out(settings, stored)))
        except DomainError as error:
            items.append(ImportItemOut(index=position, error=ErrorDetail(code=error.code, message=error.message)))
    created = sum(1 for i in items if i.product is not None)
    await retrain_if_taught(db, account.id, *[i.product.model_dump() for i in items if i.product is not None])
    return ImportOut(created=created, failed=len(items) - created, items=items)


@router.get("", response_model=Page[ProductOut])
async def list_products(account: CurrentAccount, db: Db, settings: Config, offset: Offset = 0,
                        limit: int = Query(20, ge=1, le=100)) -> Page[ProductOut]:
    found, total = await products.list_for(db, account.id, offset, limit)
    return Page[ProductOut](items=[product_out(settings, p) for p in found], total=total, offset=offset, limit=limit)


@router.get("/search", response_model=SearchOut,
            responses=error_responses(EMPTY_QUERY, TEXT_SEARCH_UNAVAILABLE, DEMO_NOT_BUILT))
async def search_products(account: CurrentAccount, services: Svc,
                          q: str = Query(min_length=1, max_length=200, description="words: \"striped shirt\", \"navy blue dress\""),
                          k: int = Query(20, ge=1, le=100),
                          catalogue: Literal["shop", "demo"] = Query("shop", description="your catalogue, or the demo gallery"),
                          ) -> Response:
    """Products ranked by a text query: what their photos show (with or without a title), and the shop's own
    words (title, tags, categories) where they exist."""
    settings = services.settings
    if catalogue == "demo":
        hits = await text_search.search_gallery(services.catalogues, services.models, settings.demo_catalogue, q, k)
        if hits is None:
            status, code, message = DEMO_NOT_BUILT
            raise ApiError(status, message, code)
        found = {hit.product_id: services.gallery.item_out(settings, hit.product_id) for hit in hits}
    else:
        ranked = await text_search.search_shop(services.db, services.catalogues, services.models, account.id, q, k)
        hits = [hit for hit, _ in ranked]
        found = {hit.product_id: product_out(settings, doc) for hit, doc in ranked}
    items = [SearchItem(score=round(h.score, 6), photo=round(h.photo, 6), words=round(h.words, 4), product=found[h.product_id])
             for h in hits if found.get(h.product_id) is not None]
    return json_response(SearchOut(query=q, catalogue=catalogue, items=items))


@router.get("/{product_id}", response_model=ProductOut, responses=error_responses(PRODUCT_NOT_FOUND))
async def get_product(product: OwnedProduct, settings: Config) -> ProductOut:
    return product_out(settings, product)


@router.patch("/{product_id}", response_model=ProductOut,
              responses=error_responses(*URL_ERRORS, SKU_TAKEN, PRODUCT_NOT_FOUND, *JSON_BODY_ERRORS))
async def update_product(body: ProductPatch, product: OwnedProduct, request: Request, account: CurrentAccount, db: Db,
                         files: Files, inference: Models, catalogues: Indexes, settings: Config) -> ProductOut:
    """Change fields; `image_urls` replaces every image (re-embedded and re-indexed)."""
    changes = body.model_dump(exclude_unset=True, exclude={"image_urls"})
    if "title" in changes and changes["title"] is None:
        raise ApiError(422, "'title' cannot be null: leave it out to keep the current title")
    for name, empty in (("metadata", {}), ("categories", []), ("tags", [])):
        if name in changes and changes[name] is None:
            changes[name] = empty
    photos = await from_urls(services_of(request).http, body.image_urls, settings.max_upload_bytes) if body.image_urls else None
    try:
        updated = await products.update(db, account.id, product["_id"], changes) if changes else product
    except DuplicateKeyError:
        raise SkuTaken(changes.get("sku")) from None
    catalogues.forget_product(account.id, product["_id"])
    if updated is not None and photos:
        updated = await replace_images(db, files, catalogues, inference, account.id, updated, photos)
    if updated is None:
        raise not_found("product", product["_id"])
    await retrain_if_taught(db, account.id, product, updated)
    return product_out(settings, updated)


@router.put("/{product_id}/images", response_model=ProductOut,
            responses=error_responses(*PHOTO_ERRORS, PRODUCT_NOT_FOUND, *FORM_BODY_ERRORS))
async def upload_images(product: OwnedProduct, account: CurrentAccount, db: Db, files: Files, inference: Models,
                        catalogues: Indexes, settings: Config,
                        images: list[UploadFile] = File(description="1 to 8 photos replacing the current ones")) -> ProductOut:
    if not 1 <= len(images) <= 8:
        raise ApiError(422, f"a product has 1 to 8 images; {len(images)} were sent")
    photos = await from_uploads(images, settings.max_upload_bytes)
    updated = await replace_images(db, files, catalogues, inference, account.id, product, photos)
    if updated is None:
        raise not_found("product", product["_id"])
    return product_out(settings, updated)


@router.delete("/{product_id}", status_code=204, responses=error_responses(PRODUCT_NOT_FOUND))
async def remove_product(product_id: Id, account: CurrentAccount, db: Db, files: Files,
                         catalogues: Indexes) -> Response:
    """Delete a product, its images and its place in the index."""
    deleted = await delete_product(db, files, catalogues, account.id, product_id)
    if deleted is None:
        raise not_found("product", product_id)
    await retrain_if_taught(db, account.id, deleted)
    return Response(status_code=204)
