"""Similar items: a photo (upload or URL, optional crop) → the closest products of the shop's catalogue or the demo gallery."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from api.catalogue import Catalogues, embed_checked
from api.core.errors import ApiError
from api.deps import Config, CurrentAccount, Db, Indexes, Inference, app_catalogues, app_db, app_settings
from api.intake import CROP_HELP, fetch, parse_crops, read_upload
from api.schemas import (
    DEMO_NOT_BUILT, PHOTO_ERRORS, URL_ERRORS, Crop, ModelInfo, SimilarItem, SimilarOut, SimilarUrlIn, error_responses,
)
from api.views import json_response, product_out

router = APIRouter(prefix="/similar", tags=["similar items"])
EMBEDDER = ModelInfo(name="fashion-embedder", version="1.0")


async def _similar(request: Request, data: bytes, crop: Crop | None, k: int, catalogue: Literal["shop", "demo"],
                   account_id: str, db: Db, inference: Inference, catalogues: Catalogues, settings: Config) -> SimilarOut:
    vector, embedder = await embed_checked(inference, data, crop, settings.max_upload_bytes)
    if catalogue == "demo":
        hits = await catalogues.search_catalogue(settings.demo_catalogue, vector, k)
        if hits is None:  # rather than an empty answer that reads as "nothing similar"
            status, code, message = DEMO_NOT_BUILT
            raise ApiError(status, message, code)
        found = {hit.product_id: request.app.state.demo.item_out(settings, hit.product_id) for hit in hits}
    else:
        request.app.state.reembedder.note(db, inference, account_id, embedder)  # stored vectors of another embedder
        hits = await catalogues.search(db, account_id, vector, k)
        found = {pid: product_out(settings, p) for pid, p in
                 (await catalogues.products(db, account_id, [hit.product_id for hit in hits])).items()}
    items = [SimilarItem(score=round(hit.score, 6), product=found[hit.product_id])
             for hit in hits if found.get(hit.product_id) is not None]
    return SimilarOut(catalogue=catalogue, items=items, model=ModelInfo(**embedder) if embedder else EMBEDDER)


@router.post("", response_model=SimilarOut, responses=error_responses(*PHOTO_ERRORS, DEMO_NOT_BUILT))
async def similar_upload(request: Request, account: CurrentAccount, inference: Inference,
                         file: UploadFile = File(description="the photo to match"),
                         crop: str | None = Form(None, description=CROP_HELP),
                         k: int = Form(10, ge=1, le=100),
                         catalogue: Literal["shop", "demo"] = Form("shop", description="your catalogue, or the demo gallery")
                         ) -> Response:
    """The `k` products most similar to an uploaded photo, best first, with cosine scores and image URLs."""
    # The database, indexes and settings from app state, not as dependencies: the route the API is timed by
    # (api/deps.py).
    settings = app_settings(request)
    data = await read_upload(file, settings.max_upload_bytes)
    return json_response(await _similar(request, data, parse_crops(crop, 1)[0], k, catalogue, account.id,
                                        app_db(request), inference, app_catalogues(request), settings))


@router.post("/url", response_model=SimilarOut, responses=error_responses(*URL_ERRORS, DEMO_NOT_BUILT))
async def similar_url(body: SimilarUrlIn, request: Request, account: CurrentAccount, db: Db, inference: Inference,
                      catalogues: Indexes, settings: Config) -> Response:
    data = await fetch(request.app.state.http, body.url, settings.max_upload_bytes)
    return json_response(await _similar(request, data, body.crop, body.k, body.catalogue, account.id, db, inference,
                                        catalogues, settings))
