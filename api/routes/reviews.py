"""Reviews: people correct annotations (checked against the taxonomy and, for a store product, the shop's own
terms), list them, and export them for training."""
from __future__ import annotations

from typing import Annotated, Literal, Sequence

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.domain.callbacks import notify
from api.core.errors import ApiError, not_found
from api.data import annotations, jobs, reviews
from api.idempotency import Idempotent
from api.deps import Config, CurrentAccount, Db, Files, Id, Offset, owned, services_of
from api.domain.errors import near_names
from api.domain.export import export_reviewed
from api.domain.shop_models import reviewed_terms, teach_from_review
from api.presenters import annotation_out, review_out
from api.documented_errors import JSON_BODY_ERRORS, error_responses, not_found_error
from api.schemas import AnnotationOut, Page, ReviewIn, ReviewOut
from handlers.taxonomy import Term, load_taxonomy

router = APIRouter(tags=["reviews"], route_class=Idempotent)
REVIEW_ERRORS = (
    (422, "unknown_label", "unknown category 'poloshirt'; use one of ... (GET /api/v1/taxonomy)"),
    (422, "unknown_shop_term", "the shop has no category 'Herren-Hemden': use one its products carry ('Damen-Oberteile', "
                               "'Herren-Oberteile'; GET /api/v1/shop-model lists them), or give a product that category first"),
    (422, "not_a_store_product", "the shop's own terms are taught through a store product's annotation (the review "
                                 "queue); this annotation has no catalogue product: ..."),
)
OwnedAnnotation = Annotated[dict, owned("annotation", annotations.get, "annotation_id")]


def _label(terms: Sequence[Term], value: str, what: str, problems: list[str]) -> str | None:
    """The label of the term `value` names, by its label ("navy") or by the name an annotation shows ("Navy
    Blue"), in any case; None otherwise, with a problem naming the terms it is near ("T-Shirts": tshirt), or the
    valid labels when it is near none."""
    by_spelling = {spelling.casefold(): term for term in terms for spelling in (term.label, term.name)}
    if value.casefold() in by_spelling:
        return by_spelling[value.casefold()].label
    near = {by_spelling[spelling].label: by_spelling[spelling] for spelling in near_names(value, by_spelling)}
    if near:
        suggestion = ", ".join(f"{label!r} ({term.name})" for label, term in near.items())
        problems.append(f"unknown {what} {value!r}; did you mean {suggestion}? (GET /api/v1/taxonomy lists them all)")
        return None
    labels = [term.label for term in terms]
    valid = ", ".join(labels) if len(labels) <= 20 else f"{', '.join(sorted(labels)[:8])}, ... (GET /api/v1/taxonomy)"
    problems.append(f"unknown {what} {value!r}; use one of {valid}")
    return None


def _in_labels(body: ReviewIn) -> ReviewIn:
    """The correction with each value as its taxonomy label; 422 naming every value the taxonomy lacks, so that
    the export always trains."""
    taxonomy = load_taxonomy()
    problems = [f"unknown attribute group {group!r}; the groups are {', '.join(taxonomy.attributes)}"
                for group in body.attributes if group not in taxonomy.attributes]
    category = _label(taxonomy.categories, body.category, "category", problems)
    attributes = {group: _label(taxonomy.attributes[group], value, group, problems)
                  for group, value in body.attributes.items() if group in taxonomy.attributes}
    colours = [_label(taxonomy.colours, colour, "colour", problems) for colour in body.colours]
    if problems:
        raise ApiError(422, "; ".join(problems), "unknown_label")
    return ReviewIn(category=category, attributes=attributes, colours=colours, shop=body.shop)


@router.post("/annotations/{annotation_id}/review", status_code=201, response_model=ReviewOut,
             responses=error_responses(*REVIEW_ERRORS, not_found_error("annotation"), *JSON_BODY_ERRORS))
async def review_annotation(body: ReviewIn, annotation: OwnedAnnotation, request: Request, account: CurrentAccount,
                            db: Db, background: BackgroundTasks) -> ReviewOut:
    """Correct an annotation: taxonomy labels, or the names the annotation showed (stored as labels). The latest
    correction is the one exported for training; a store product's is also written to the store, merged with the
    merchant's own terms. A store product's review may give the shop's own category and tags (`shop`, terms its
    products already carry; 422 `unknown_shop_term` naming one that none does): its catalogue product takes them,
    the shop's model retrains on them, and the store gets them by their existing term ids."""
    correction = _in_labels(body).model_dump(exclude={"shop"})
    if body.shop is not None and (body.shop.category or body.shop.tags):
        correction["shop"] = await reviewed_terms(db, account.id, annotation, body.shop.model_dump())
    review = reviews.new_review(account.id, annotation["_id"], correction, account.reviewer)
    await reviews.insert(db, review)
    if await annotations.set_review(db, account.id, annotation["_id"], review) is None:
        await reviews.delete_for_annotation(db, account.id, annotation["_id"])  # deleted meanwhile: keep nothing
        raise not_found("annotation", annotation["_id"])
    source = annotation.get("source") or {}
    if correction.get("shop"):
        entry = await teach_from_review(db, account.id, annotation, correction["shop"])
        if entry is not None:  # this process shows the entry's new terms at once
            services_of(request).catalogues.forget_product(account.id, entry["_id"])
    if source.get("kind") == "woocommerce":  # the correction goes to the store product (api/jobs/woocommerce.py)
        await jobs.enqueue_correction(db, account.id, annotation, f"reviewed by {account.reviewer}")
    out = review_out(review)
    background.add_task(notify, services_of(request), account.id, "annotation.reviewed", out.model_dump(mode="json"))
    return out


@router.get("/reviews/queue", response_model=Page[AnnotationOut])
async def review_queue(account: CurrentAccount, db: Db, settings: Config, offset: Offset = 0,
                       limit: int = Query(20, ge=1, le=100),
                       state: Literal["held", "applied"] | None = Query(None, description=(
                           "only those the policy held (nothing written: they wait for a person) or only those it "
                           "applied"))) -> Page[AnnotationOut]:
    """Store products annotated by an integration and not reviewed yet: those held by the tagging policy (nothing
    was written) first, then those applied; newest first in each. A review is written to the store."""
    found, total = await annotations.review_queue(db, account.id, offset, limit, state)
    return Page[AnnotationOut](items=[annotation_out(settings, a) for a in found], total=total, offset=offset,
                               limit=limit)


@router.delete("/reviews/queue/{annotation_id}", status_code=204, responses=error_responses(
    not_found_error("annotation"),
    (409, "not_in_queue", "annotation '65dccd6141b312063e79d76c' is not in the review queue: it was reviewed")))
async def leave_as_it_is(annotation: OwnedAnnotation, account: CurrentAccount, db: Db) -> Response:
    """Take a store product out of the review queue and write nothing to the store: the product keeps the terms it
    has (a gift card among the clothes, a product the merchant has categorised already). The annotation stays,
    unreviewed (not training data), with `left_queue` saying who left it; the product's next photos are annotated
    and queued as any."""
    why = f"left as it is by {account.reviewer}: nothing written to the store"
    if not await annotations.leave_as_it_is(db, account.id, annotation["_id"], why):
        state = ("it was reviewed" if annotation.get("reviewed") else
                 f"it is out of it ({annotation['left_queue']})" if annotation.get("left_queue") else
                 "it is no store product's annotation")
        raise ApiError(409, f"annotation {annotation['_id']!r} is not in the review queue: {state}", "not_in_queue")
    return Response(status_code=204)


@router.get("/reviews", response_model=Page[ReviewOut])
async def list_reviews(account: CurrentAccount, db: Db, offset: Offset = 0, limit: int = Query(20, ge=1, le=100),
                       annotation_id: str | None = Query(None, description="only the reviews of this annotation")
                       ) -> Page[ReviewOut]:
    found, total = await reviews.list_for(db, account.id, offset, limit, annotation_id)
    return Page[ReviewOut](items=[review_out(r) for r in found], total=total, offset=offset, limit=limit)


@router.get("/reviews/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "labels.csv (id,category,gender,usage,season,pattern,colour) + images/<id>.jpg"}})
async def export_reviews(account: CurrentAccount, db: Db, files: Files) -> StreamingResponse:
    """Every reviewed annotation as a zipped training directory: unzip it and pass the folder to the training command."""
    archive, rows = await export_reviewed(db, files, account.id, "reviewed")

    def chunks():
        with archive:
            while block := archive.read(1 << 16):
                yield block

    return StreamingResponse(chunks(), media_type="application/zip",
                             headers={"Content-Disposition": 'attachment; filename="reviewed.zip"', "X-Rows": str(rows)})


@router.get("/reviews/{review_id}", response_model=ReviewOut, responses=error_responses(not_found_error("review")))
async def get_review(review_id: Id, account: CurrentAccount, db: Db) -> ReviewOut:
    found = await reviews.get(db, account.id, review_id)
    if found is None:
        raise not_found("review", review_id)
    return review_out(found)
