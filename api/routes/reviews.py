"""Reviews: people correct annotations (checked against the taxonomy), list them, and export them for training."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import StreamingResponse

from api.callbacks import notify
from api.core.errors import ApiError, not_found
from api.data import annotations, reviews
from api.deps import CurrentAccount, Db, Files, owned
from api.export import export_reviewed
from api.schemas import Page, ReviewIn, ReviewOut
from api.views import review_out
from handlers.taxonomy import load_taxonomy

router = APIRouter(tags=["reviews"])
OwnedAnnotation = Annotated[dict, owned("annotation", annotations.get, "annotation_id")]


def _by_label_or_name(terms) -> dict[str, str]:
    """Each term's label and display name, in any case, to its label."""
    return {key.casefold(): term.label for term in terms for key in (term.label, term.name)}


def _in_labels(body: ReviewIn) -> ReviewIn:
    """The correction in taxonomy labels, each value given as a label ("navy") or as the name an annotation shows
    ("Navy Blue"), in any case; unknown values are refused naming the valid labels, so the export always trains."""
    taxonomy = load_taxonomy()
    category = _by_label_or_name(taxonomy.categories).get(body.category.casefold())
    if category is None:
        raise ApiError(422, f"unknown category {body.category!r}; use a taxonomy label such as "
                            f"{', '.join(sorted(taxonomy.leaves)[:8])}, ... (GET /api/v1/taxonomy lists them)",
                       "unknown_label")
    attributes = {}
    for group, value in body.attributes.items():
        if group not in taxonomy.attributes:
            raise ApiError(422, f"unknown attribute group {group!r}; the groups are {', '.join(taxonomy.attributes)}",
                           "unknown_label")
        attributes[group] = _by_label_or_name(taxonomy.attributes[group]).get(value.casefold())
        if attributes[group] is None:
            allowed = ", ".join(term.label for term in taxonomy.attributes[group])
            raise ApiError(422, f"{value!r} is not a {group} label; use one of {allowed}", "unknown_label")
    colours, known = [], _by_label_or_name(taxonomy.colours)
    for colour in body.colours:
        if colour.casefold() not in known:
            allowed = ", ".join(c.label for c in taxonomy.colours)
            raise ApiError(422, f"unknown colour {colour!r}; use one of {allowed}", "unknown_label")
        colours.append(known[colour.casefold()])
    return ReviewIn(category=category, attributes=attributes, colours=colours)


@router.post("/annotations/{annotation_id}/review", status_code=201, response_model=ReviewOut)
async def review_annotation(body: ReviewIn, annotation: OwnedAnnotation, request: Request, account: CurrentAccount,
                            db: Db, background: BackgroundTasks) -> ReviewOut:
    """Correct an annotation: taxonomy labels, or the names the annotation showed (stored as labels). The latest
    correction is the one exported for training."""
    review = reviews.new_review(account.id, annotation["_id"], _in_labels(body).model_dump(), account.reviewer)
    await reviews.insert(db, review)
    if await annotations.set_review(db, account.id, annotation["_id"], review) is None:
        await reviews.delete_for_annotation(db, account.id, annotation["_id"])  # deleted meanwhile: keep nothing
        raise not_found("annotation", annotation["_id"])
    out = review_out(review)
    background.add_task(notify, request.app, account.id, "annotation.reviewed", out.model_dump(mode="json"))
    return out


@router.get("/reviews", response_model=Page[ReviewOut])
async def list_reviews(account: CurrentAccount, db: Db, offset: int = Query(0, ge=0), limit: int = Query(20, ge=1, le=100),
                       annotation_id: str | None = Query(None, description="only the reviews of this annotation")
                       ) -> Page[ReviewOut]:
    found, total = await reviews.list_for(db, account.id, offset, limit, annotation_id)
    return Page[ReviewOut](items=[review_out(r) for r in found], total=total, offset=offset, limit=limit)


@router.get("/reviews/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "labels.csv (id,category,gender,usage,season,colour) + images/<id>.jpg"}})
async def export_reviews(account: CurrentAccount, db: Db, files: Files) -> StreamingResponse:
    """Every reviewed annotation as a zipped training directory: unzip it and pass the folder to the training command."""
    archive, rows = await export_reviewed(db, files, account.id, "reviewed")

    def chunks():
        with archive:
            while block := archive.read(1 << 16):
                yield block

    return StreamingResponse(chunks(), media_type="application/zip",
                             headers={"Content-Disposition": 'attachment; filename="reviewed.zip"', "X-Rows": str(rows)})


@router.get("/reviews/{review_id}", response_model=ReviewOut)
async def get_review(review_id: str, account: CurrentAccount, db: Db) -> ReviewOut:
    found = await reviews.get(db, account.id, review_id)
    if found is None:
        raise not_found("review", review_id)
    return review_out(found)
