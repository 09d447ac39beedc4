"""Similar items: a photo (upload or URL, optional crop) → the closest products of the shop's catalogue or the demo gallery."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from api.domain import reembedder
from api.domain.embedding import embed_checked
from api.core.errors import ApiError
from api.deps import CurrentAccount, Svc, services_of
from api.services import Services
from api.intake.sources import CROP_HELP, fetch, parse_crops, read_upload
from api.documented_errors import (
    DEMO_NOT_BUILT, FORM_BODY_ERRORS, JSON_BODY_ERRORS, PHOTO_ERRORS, URL_ERRORS, error_responses,
)
from api.schemas import Crop, ModelInfo, SimilarItem, SimilarOut, SimilarUrlIn
from api.presenters import json_response, product_out

router = APIRouter(prefix="/similar", tags=["similar items"])
EMBEDDER = ModelInfo(name="fashion-embedder", version="1.0")


async def _similar(services: Services, data: bytes, crop: Crop | None, k: int, catalogue: Literal["shop", "demo"],
                   account_id: str) -> SimilarOut:
    settings, db, catalogues = services.settings, services.db, services.catalogues
    vector, embedder = await embed_checked(services.models, data, crop, settings.max_upload_bytes)
    if catalogue == "demo":
        hits = await catalogues.search_catalogue(settings.demo_catalogue, vector, k)
        if hits is None:  # rather than an empty answer that reads as "nothing similar"
            status, code, message = DEMO_NOT_BUILT
            raise ApiError(status, message, code)
        found = {hit.product_id: services.gallery.item_out(settings, hit.product_id) for hit in hits}
    else:
        hits = await catalogues.search(db, account_id, vector, k)
        await reembedder.note(services, account_id, embedder)  # stored vectors of another embedder are made again
        found = {pid: product_out(settings, p) for pid, p in
                 (await catalogues.products(db, account_id, [hit.product_id for hit in hits])).items()}
    items = [SimilarItem(score=round(hit.score, 6), product=found[hit.product_id])
             for hit in hits if found.get(hit.product_id) is not None]
    return SimilarOut(catalogue=catalogue, items=items, model=ModelInfo(**embedder) if embedder else EMBEDDER)


@router.post("", response_model=SimilarOut, responses=error_responses(*PHOTO_ERRORS, DEMO_NOT_BUILT, *FORM_BODY_ERRORS))
async def similar_upload(request: Request, account: CurrentAccount,
                         file: UploadFile = File(description="the photo to match"),
                         crop: str | None = Form(None, description=CROP_HELP),
                         k: int = Form(10, ge=1, le=100),
                         catalogue: Literal["shop", "demo"] = Form("shop", description="your catalogue, or the demo gallery")
                         ) -> Response:
    """The `k` products most similar to an uploaded photo, best first, with cosine scores and image URLs."""
    # The services from the request, not as dependencies: the route the API is timed by (api/deps.py).
    services = services_of(request)
    data = await read_upload(file, services.settings.max_upload_bytes)
    return json_response(await _similar(services, data, parse_crops(crop, 1)[0], k, catalogue, account.id))


@router.post("/url", response_model=SimilarOut, responses=error_responses(*URL_ERRORS, DEMO_NOT_BUILT, *JSON_BODY_ERRORS))
async def similar_url(body: SimilarUrlIn, account: CurrentAccount, services: Svc) -> Response:
    data = await fetch(services.http, body.url, services.settings.max_upload_bytes)
    return json_response(await _similar(services, data, body.crop, body.k, body.catalogue, account.id))
