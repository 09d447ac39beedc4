"""Photos of the demo gallery, by signed URL (they are not a shop's images and are never stored in the database)."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from api.core.errors import ApiError, not_found
from api.core.security import image_signature_valid
from api.domain.gallery import demo_signing_id
from api.deps import Config, services_of
from api.documented_errors import COMMON_ERRORS, not_found_error, with_errors

router = APIRouter(prefix="/demo", tags=["similar items"])


@router.get("/images/{item_id}", response_class=FileResponse,
            responses=with_errors({200: {"content": {"image/jpeg": {}}, "description": "the demo item's photo"}},
                                  *COMMON_ERRORS, not_found_error("demo item"),
                                  (403, "bad_signature", "this image link has expired or its signature is wrong: "
                                                         "search again for a fresh link")))
async def demo_image(item_id: str, request: Request, settings: Config, expires: int = Query(),
                     signature: str = Query()) -> FileResponse:
    if not image_signature_valid(settings.secret_key, demo_signing_id(item_id), expires, signature):
        raise ApiError(403, "this image link has expired or its signature is wrong: search again for a fresh link",
                       "bad_signature")
    path = services_of(request).gallery.image(item_id)
    if path is None:
        raise not_found("demo item", item_id)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})
