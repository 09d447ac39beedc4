"""The `reembed` job: one pass over a shop's products whose vectors another embedder made (api/domain/reembedder.py)."""
from __future__ import annotations

from api.domain.reembedder import Reembedder
from api.jobs.runner import JobFailure, Step
from api.services import Services


class ReembedJobs:
    def __init__(self, services: Services, **options: float) -> None:
        self.services = services
        self.options = options  # batch, index_every_s: see Reembedder

    async def run(self, job: dict, step: Step) -> str:
        services = self.services
        reembedder = Reembedder(services.db, services.models, services.catalogues, services.images, **self.options)
        if not await reembedder.reembed(job["account"], job["embedder"]):
            raise JobFailure("the pass stopped early: the embedder changed under it or the model server failed "
                             "(the log says which); it goes on at the next attempt", retryable=True)
        return f"the catalogue's vectors are those of embedder {job['embedder'][:12]}"

    async def gave_up(self, job: dict, reason: str) -> None:
        """Products left with another embedder's vectors rank by them; the shop's next query queues a new pass."""

    async def aclose(self) -> None:
        pass
