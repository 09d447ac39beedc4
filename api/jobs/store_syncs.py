"""The `store_syncs` job: every `store_sync_minutes` (settings) it queues a sync of every connected store
(api/integrations/sync.py), so that what the webhooks never delivered (the service was down, WooCommerce disabled a
webhook after failed deliveries, a delivery was lost on the way) is annotated without anyone asking. A store whose
sync already waits (asked for from the console, or still retrying) keeps that one. The worker queues a round when it
starts, joining the one already waiting, and each round queues the next; a store that cannot be reached fails its
own sync job, not the round.
"""
from __future__ import annotations

import time

from api.data import integrations, jobs
from api.jobs.runner import Step
from api.services import Services

KIND = WAIT_KEY = "store_syncs"


async def queue_store_syncs(services: Services, reason: str) -> dict | None:
    """The round to run `store_sync_minutes` from now: queued, or the one waiting already (due then at the latest:
    a worker started with a shorter period brings it forward). None when the setting is 0 (stores are synced only
    when asked)."""
    every_s = services.settings.store_sync_minutes * 60
    if not every_s:
        return None
    job, _ = await jobs.enqueue_kind(services.db, KIND, None, WAIT_KEY, reason, delay_s=every_s)
    return await jobs.due_by(services.db, job, time.time() + every_s)


class StoreSyncJobs:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, job: dict, step: Step) -> str:
        db = self.services.db
        if not self.services.settings.store_sync_minutes:
            return "store syncs are off (store_sync_minutes is 0): none queued"
        stores = await integrations.every(db)
        queued = 0
        for integration in stores:
            _, created = await jobs.enqueue(db, integration["account"], integration["_id"], None,
                                            "the scheduled sync: what the webhooks missed")
            queued += created
        await step("queued", f"{queued} store sync(s); {len(stores) - queued} waiting already")
        await queue_store_syncs(self.services, "the next round of store syncs")
        return f"{len(stores)} store(s): {queued} sync(s) queued, {len(stores) - queued} waiting already"

    async def gave_up(self, job: dict, reason: str) -> None:
        """Queued again at the next worker start."""

    async def aclose(self) -> None:
        pass
