"""The `shop_model` job: one training of a shop's own model (api/domain/shop_models.py), stored as a new version."""
from __future__ import annotations

from api.domain.shop_models import train_shop
from api.jobs.runner import JobFailure, Step
from api.services import Services
from kalas.shop_model import NotEnoughExamples

FIGURES = (("category_top1", "category top-1"), ("tag_micro_f1", "tag micro-F1"))  # as the console words them


class ShopModelJobs:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, job: dict, step: Step) -> str:
        try:
            version = await train_shop(self.services.db, job["account"])
        except NotEnoughExamples as error:
            raise JobFailure(f"not trained: {error}", retryable=False) from None
        self.services.shop_models.forget(job["account"])
        report = version["report"]
        held = report.get("held_out") or {}
        figures = ", ".join(f"{words} {held[name]:.1%}" for name, words in FIGURES if held.get(name) is not None)
        return (f"version {version['version']}: {len(version['categories'])} categories, {len(version['tags'])} tags "
                f"from {report['products']} photos in {report['train_seconds']:.2f} s"
                + (f"; held out: {figures}" if figures else ""))

    async def gave_up(self, job: dict, reason: str) -> None:
        """The shop keeps its previous version (or the generic taxonomy); the console shows the job's error."""

    async def aclose(self) -> None:
        pass
