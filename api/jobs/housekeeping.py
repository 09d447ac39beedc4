"""The `housekeeping` job: once a day, the history the service keeps of its background work goes after
`job_history_days` (settings): finished jobs, their steps, received webhook deliveries. Without it those
collections only grew (about a dozen documents a store product). Idempotency-Keys past their 24 hours go too, the
catalogue changes replicas follow after `KEEP_DAYS` (api/data/changes.py: neither has a TTL index), and console
sessions that expired without their token coming back, and shop models' arrays whose version was never stored (a
worker stopped mid-way through storing a training: api/data/shop_models.py). It also deletes the older of two catalogue
entries a store product was given (by two worker processes, before the entries' key was unique): while both are
stored that key cannot be made unique (api/data/products.py `unique_store_keys`). The worker queues one when it
starts (joining the one already waiting, brought forward while such entries wait), and each run queues the next."""
from __future__ import annotations

import time

from api.data import changes, idempotency, integrations, jobs, products, sessions, shop_models
from api.integrations.catalogue_import import one_entry_per_store_product
from api.jobs.runner import Step
from api.services import Services

KIND, WAIT_KEY = "housekeeping", "housekeeping"
EVERY_S = 24 * 3600.0


async def queue_housekeeping(services: Services, reason: str, delay_s: float = 0.0) -> dict:
    job, _ = await jobs.enqueue_kind(services.db, KIND, None, WAIT_KEY, reason, delay_s=delay_s)
    return job


async def housekeeping_at_start(services: Services) -> dict:
    """A worker's start joins the run already waiting, if any; brought forward to now while store products' entries
    made twice wait to be merged (the store key could not be made unique), so that they are today, not in a day."""
    job = await queue_housekeeping(services, "worker started")
    if not await products.unique_store_keys(services.db):
        job = await jobs.due_by(services.db, job, time.time())
    return job


class HousekeepingJobs:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, job: dict, step: Step) -> str:
        keep_s = self.services.settings.job_history_days * 24 * 3600
        pruned = await jobs.prune(self.services.db, keep_s)
        deliveries = await integrations.prune_deliveries(self.services.db, keep_s)
        keys = await idempotency.prune(self.services.db)
        logged = await changes.prune(self.services.db)
        ended = await sessions.prune(self.services.db)
        orphans = await shop_models.prune_orphans(self.services.db)
        await step("pruned", f"{pruned['jobs']} jobs, {pruned['steps']} steps, {deliveries} deliveries, "
                             f"{keys} expired Idempotency-Keys, {logged} catalogue changes, {ended} expired sessions, "
                             f"{orphans} shop models' arrays without a version")
        merged = await one_entry_per_store_product(self.services)
        if merged:
            await step("entries merged", f"{merged} catalogue entries of store products made twice deleted")
        await queue_housekeeping(self.services, "the next day's housekeeping", delay_s=EVERY_S)
        return (f"deleted what was older than {self.services.settings.job_history_days:g} days: {pruned['jobs']} "
                f"finished jobs, {pruned['steps']} steps, {deliveries} webhook deliveries; {keys} expired "
                f"Idempotency-Keys; {logged} catalogue changes older than {changes.KEEP_DAYS} days; {ended} expired "
                f"console sessions; {orphans} shop models' arrays without a version"
                + (f"; {merged} catalogue entries of store products made twice" if merged else ""))

    async def gave_up(self, job: dict, reason: str) -> None:
        """Tried again at the next worker start (which queues a housekeeping job)."""

    async def aclose(self) -> None:
        pass
