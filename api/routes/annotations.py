"""Annotating photos (an upload or a URL, one or a batch, optional crop box) and reading past annotations."""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, Response, UploadFile

from api.domain.annotations import Submitted, annotate
from api.domain.callbacks import notify
from api.core.errors import ApiError, not_found
from api.data import annotations, images, reviews
from api.idempotency import Idempotent
from api.deps import Account, Config, CurrentAccount, Db, Files, Id, Offset, Svc, owned, services_of
from api.domain.errors import DomainError
from api.services import Services
from api.intake.sources import CROP_HELP, fetch, parse_crops, parse_titles, read_upload
from api.documented_errors import (
    ACCOUNT_DELETED, BATCH_TOO_LARGE, FORM_BODY_ERRORS, JSON_BODY_ERRORS, PHOTO_ERRORS, URL_ERRORS, error_responses,
    not_found_error,
)
from api.schemas import (
    AnnotationOut, BatchItemOut, BatchOut, Crop, ErrorDetail, ImageUrlBatchIn, ImageUrlIn, Page, Title,
    TITLE_HELP,
)
from api.presenters import annotation_out, json_response

router = APIRouter(prefix="/annotations", tags=["annotations"], route_class=Idempotent)
OwnedAnnotation = Annotated[dict, owned("annotation", annotations.get, "annotation_id")]


async def _submit(reading, crop: Crop | None, source: dict[str, str], title: str | None = None) -> Submitted:
    try:
        return Submitted(source, data=await reading, crop=crop, title=title)
    except DomainError as error:
        return Submitted(source, error=error)


def _upload(upload: UploadFile, crop: Crop | None, max_bytes: int, title: str | None = None):
    return _submit(read_upload(upload, max_bytes), crop, {"kind": "upload", "filename": upload.filename or ""}, title)


def _url(services: Services, item: ImageUrlIn):
    max_bytes = services.settings.max_upload_bytes
    return _submit(fetch(services.http, item.url, max_bytes), item.crop, {"kind": "url", "url": item.url}, item.title)


async def _answer(services: Services, account: Account, submitted: list[Submitted],
                  background: BackgroundTasks) -> list[AnnotationOut | DomainError]:
    settings = services.settings
    answers = await annotate(services.db, services.images, services.models, account.id, submitted,
                             settings.max_upload_bytes, lambda annotation, _: annotation_out(settings, annotation),
                             shop_model=await services.shop_models.current(services.db, account.id))
    stored = [a for a in answers if not isinstance(a, DomainError)]
    if stored:
        background.add_task(notify, services, account.id, "annotation.created", stored)
    return answers


def _single(result: AnnotationOut | DomainError) -> AnnotationOut:
    if isinstance(result, DomainError):
        raise result
    return result


def _batch(results: list[AnnotationOut | DomainError]) -> BatchOut:
    return BatchOut(items=[BatchItemOut(index=i, error=ErrorDetail(code=r.code, message=r.message))
                           if isinstance(r, DomainError) else BatchItemOut(index=i, annotation=r)
                           for i, r in enumerate(results)])


@router.post("", status_code=201, response_model=AnnotationOut,
             responses=error_responses(*PHOTO_ERRORS, ACCOUNT_DELETED, *FORM_BODY_ERRORS))
async def annotate_upload(request: Request, account: CurrentAccount, background: BackgroundTasks,
                          file: UploadFile = File(description="the photo: JPEG, PNG, WebP, AVIF, HEIC, GIF, BMP or TIFF"),
                          crop: str | None = Form(None, description=CROP_HELP),
                          title: Title | None = Form(None, description=TITLE_HELP)) -> Response:
    """Annotate one uploaded photo (multipart form: `file`, optional `crop` and `title`). Stored with its image."""
    # The services from the request, not as dependencies: the route the API is timed by (api/deps.py).
    services = services_of(request)
    if (sent := len((await request.form()).getlist("file"))) > 1:  # the form as parsed already: FastAPI took the last
        raise ApiError(422, f"'file' takes one photo and {sent} were sent: send several to POST "
                            "/api/v1/annotations/batch as 'files'")
    submitted = await _upload(file, parse_crops(crop, 1)[0], services.settings.max_upload_bytes, title)
    answers = await _answer(services, account, [submitted], background)
    return json_response(_single(answers[0]), 201)


@router.post("/url", status_code=201, response_model=AnnotationOut,
             responses=error_responses(*URL_ERRORS, ACCOUNT_DELETED, *JSON_BODY_ERRORS))
async def annotate_url(body: ImageUrlIn, account: CurrentAccount, services: Svc, background: BackgroundTasks) -> Response:
    """Annotate the photo at a public http(s) URL (fetched by the server; private addresses are refused)."""
    submitted = await _url(services, body)
    return json_response(_single((await _answer(services, account, [submitted], background))[0]), 201)


def _check_batch_size(count: int, limit: int) -> None:
    if count > limit:
        raise ApiError(413, f"{count} images in one batch; the limit is {limit}: split it into several requests")


@router.post("/batch", response_model=BatchOut,
             responses=error_responses(BATCH_TOO_LARGE, ACCOUNT_DELETED, *FORM_BODY_ERRORS))
async def annotate_batch(account: CurrentAccount, services: Svc, background: BackgroundTasks,
                         files: list[UploadFile] = File(description="the photos, one `files` part each"),
                         crops: str | None = Form(None, description="a JSON list with one crop box or null per file"),
                         titles: str | None = Form(None, description="a JSON list with one product name or null per "
                                                                     "file: " + TITLE_HELP)) -> BatchOut:
    """Annotate several uploads at once; each image gets its annotation or its own error."""
    settings = services.settings
    _check_batch_size(len(files), settings.max_batch)
    boxes, names = parse_crops(crops, len(files)), parse_titles(titles, len(files))
    submitted = [await _upload(f, c, settings.max_upload_bytes, t) for f, c, t in zip(files, boxes, names)]
    return _batch(await _answer(services, account, submitted, background))


@router.post("/batch/url", response_model=BatchOut,
             responses=error_responses(BATCH_TOO_LARGE, ACCOUNT_DELETED, *JSON_BODY_ERRORS))
async def annotate_batch_url(body: ImageUrlBatchIn, account: CurrentAccount, services: Svc,
                             background: BackgroundTasks) -> BatchOut:
    _check_batch_size(len(body.items), services.settings.max_batch)
    submitted = list(await asyncio.gather(*(_url(services, item) for item in body.items)))
    return _batch(await _answer(services, account, submitted, background))


@router.get("", response_model=Page[AnnotationOut])
async def list_annotations(account: CurrentAccount, db: Db, settings: Config, offset: Offset = 0,
                           limit: int = Query(20, ge=1, le=100),
                           reviewed: bool | None = Query(None, description="only reviewed (true) or unreviewed (false)")
                           ) -> Page[AnnotationOut]:
    found, total = await annotations.list_for(db, account.id, offset, limit, reviewed)
    return Page[AnnotationOut](items=[annotation_out(settings, a) for a in found], total=total, offset=offset, limit=limit)


@router.get("/{annotation_id}", response_model=AnnotationOut, responses=error_responses(not_found_error("annotation")))
async def get_annotation(annotation: OwnedAnnotation, settings: Config) -> AnnotationOut:
    return annotation_out(settings, annotation)


@router.delete("/{annotation_id}", status_code=204, responses=error_responses(not_found_error("annotation")))
async def delete_annotation(annotation_id: Id, account: CurrentAccount, db: Db, files: Files) -> Response:
    """Delete an annotation with its image and its reviews."""
    deleted = await annotations.delete(db, account.id, annotation_id)
    if deleted is None:
        raise not_found("annotation", annotation_id)
    await images.delete(db, files, account.id, [deleted["image"]["id"]])
    await reviews.delete_for_annotation(db, account.id, annotation_id)
    return Response(status_code=204)
