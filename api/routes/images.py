"""Stored images, by signed URL (works in an <img> tag, no headers) or with the owning shop's credentials."""
from __future__ import annotations

from fastapi import APIRouter, Query, Response

from api.core.errors import ApiError, not_found
from api.core.security import image_signature_valid
from api.data import images
from api.deps import Config, Db, Files, Id, OptionalAccount
from api.documented_errors import BAD_SIGNATURE, COMMON_ERRORS, not_found_error, with_errors

router = APIRouter(prefix="/images", tags=["images"])


@router.get("/{image_id}", response_class=Response,
            responses=with_errors({200: {"content": {"image/jpeg": {}}, "description": "the image bytes as uploaded"}},
                                  *COMMON_ERRORS, BAD_SIGNATURE, not_found_error("image")))
async def get_image(image_id: Id, db: Db, files: Files, settings: Config, account: OptionalAccount,
                    expires: int | None = Query(None, description="from a signed URL"),
                    signature: str | None = Query(None, description="from a signed URL")) -> Response:
    """The image as uploaded. Image URLs in API answers carry `expires` and `signature`; without them, send credentials."""
    if expires is not None or signature is not None:
        if expires is None or signature is None or not image_signature_valid(settings.secret_key, image_id, expires, signature):
            raise ApiError(403, "this image link has expired or its signature is wrong: "
                                "read the annotation or product again for a fresh link", "bad_signature")
        image = await images.get_signed(db, image_id)
        cache = "private, max-age=3600"
    elif account is not None:
        image = await images.get(db, account.id, image_id)
        cache = "private, no-cache"
    else:
        raise ApiError(401, "send the signed link's `expires` and `signature`, or credentials (X-API-Key)")
    if image is None:
        raise not_found("image", image_id)
    return Response(await files.load(image), media_type=image["content_type"],
                    headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})
