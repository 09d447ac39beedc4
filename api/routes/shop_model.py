"""The shop's own model: what it knows (terms, examples per term, held-out precision and recall), and a retrain."""
from __future__ import annotations

from fastapi import APIRouter

from api.data import jobs, shop_models
from api.deps import CurrentAccount, Db
from api.domain.shop_models import queue_training, term_counts_of
from api.shop_schemas import HeldOutOut, ShopModelOut, TermOut, TrainingOut, VersionOut
from kalas.shop_heads import MIN_NAMED
from kalas.shop_model import MIN_EXAMPLES

router = APIRouter(prefix="/shop-model", tags=["shop model"])


def _held_out(figures: dict | None) -> HeldOutOut | None:
    return HeldOutOut(**{k: figures.get(k) for k in HeldOutOut.model_fields}) if figures else None


def _version(document: dict) -> VersionOut:
    report = document.get("report") or {}
    return VersionOut(version=document["version"], created=document["created"], products=report.get("products", 0),
                      train_seconds=report.get("train_seconds", 0.0), held_out=_held_out(report.get("held_out")),
                      held_out_named=_held_out(report.get("held_out_named")))


def _terms(counts: dict[str, int], held: dict[str, dict]) -> list[TermOut]:
    return [TermOut(name=name, examples=n, needs=max(0, MIN_EXAMPLES - n), **(held.get(name) or {}))
            for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


async def _training(db, account_id: str) -> TrainingOut | None:
    job = await jobs.for_work(db, account_id, f"shop_model:{account_id}")
    return None if job is None else TrainingOut(id=job["_id"], **{k: job.get(k) for k in TrainingOut.model_fields if k != "id"})


@router.get("", response_model=ShopModelOut)
async def get_shop_model(account: CurrentAccount, db: Db) -> ShopModelOut:
    """The shop's model: every term its products carry (examples, how many more each needs, held-out precision and
    recall of the current version), the kept versions and the latest training."""
    latest = await shop_models.latest(db, account.id)
    categories, tags = await term_counts_of(db, account.id)
    held = ((latest or {}).get("report") or {}).get("held_out") or {}
    return ShopModelOut(state="trained" if latest else "none", min_examples=MIN_EXAMPLES, min_named=MIN_NAMED,
                        categories=_terms(categories, held.get("categories", {})), tags=_terms(tags, held.get("tags", {})),
                        current=_version(latest) if latest else None,
                        versions=[_version(v) for v in await shop_models.versions(db, account.id)],
                        training=await _training(db, account.id))


@router.post("/train", status_code=202, response_model=TrainingOut)
async def train_shop_model(account: CurrentAccount, db: Db) -> TrainingOut:
    """Queue a training of the shop's model on its catalogue as it is now (joins one already waiting)."""
    job = await queue_training(db, account.id, "asked for by the shop")
    return TrainingOut(id=job["_id"], **{k: job.get(k) for k in TrainingOut.model_fields if k != "id"})
