"""The WooCommerce worker process: `python -m api.worker` (settings from the same KALAS_* variables as the API).

Up to a few jobs at a time ("lanes") run in one process, each claimed with a lease, and each records its fate:
done, back in the queue after a backoff (5xx, time-outs, 429 after its Retry-After, the models unavailable), or
dead-lettered (refused keys, an unusable photo, or the tries used up). A job whose worker died is claimed again when its lease runs out;
a heartbeat extends the lease while the job runs, so a slow job keeps it and a dead worker loses it.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from dataclasses import dataclass, field

from api.core.settings import Settings
from api.data import integrations, jobs
from api.data.db import ensure_indexes, open_client
from api.data.images import ImageFiles
from api.fetch import FetchError, SafeHttp
from api.integrations.backoff import Backoff
from api.integrations.pipeline import KNOWN_FAILURES, JobFailure, Services, annotate_product, job_failure
from api.integrations.sync import describe, sync_store
from api.integrations.vault import Vault
from api.integrations.woo_client import WooClient

log = logging.getLogger("kalas.worker")


@dataclass(frozen=True)
class Options:
    lanes: int = 4
    lease_s: float = 60.0
    idle_poll_s: float = 0.05
    backoff: Backoff = field(default_factory=Backoff)
    store_timeout_s: float = 15.0


class LeaseLost(Exception):
    """Another worker took the job over (ours was too slow or presumed dead): stop touching it."""


class Worker:
    def __init__(self, services: Services, vault: Vault, options: Options = Options(), name: str | None = None) -> None:
        self.services, self.vault, self.options = services, vault, options
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stores: dict[str, tuple[tuple, WooClient]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """One claimer feeds up to `lanes` jobs at a time: a single poller keeps an idle worker's load on the
        database low while a new job is still picked up within `idle_poll_s`."""
        free = asyncio.Semaphore(self.options.lanes)
        running: set[asyncio.Task] = set()
        pause = 0.005
        while not stop.is_set():
            await free.acquire()
            if stop.is_set():  # stopped while every lane was busy
                free.release()
                break
            try:
                job = await jobs.claim(self.services.db, self.name, self.options.lease_s)
            except Exception:  # the database away for a moment: wait and claim again
                log.exception("claiming a job failed")
                job = None
            if job is None:
                free.release()
                pause = min(self.options.idle_poll_s, pause * 2)
                try:
                    await asyncio.wait_for(stop.wait(), pause)
                except TimeoutError:
                    pass
                continue
            pause = 0.005
            task = asyncio.create_task(self._run(job))
            running.add(task)
            task.add_done_callback(lambda done: (running.discard(done), free.release()))
        if running:  # stopping: finish the jobs in hand, claim no more
            await asyncio.gather(*running)

    async def _run(self, job: dict) -> None:
        try:
            await self.handle(job)
        except Exception:  # recording the outcome failed: the lease runs out and the job is claimed again
            log.exception("job %s: its outcome could not be recorded", job["_id"])

    async def handle(self, job: dict) -> str:
        """Run one claimed job to its recorded end; returns the state it ended in."""
        db = self.services.db
        try:
            outcome = await self._with_heartbeat(job, self._work(job))
        except LeaseLost:
            log.warning("job %s: lease lost to another worker", job["_id"])
            return "lease lost"
        except JobFailure as failure:
            return await self._failed(job, failure)
        except Exception as error:  # a bug or an unforeseen outage: retried with backoff, and visible to the shop
            log.exception("job %s failed", job["_id"])
            return await self._failed(job, JobFailure(f"{type(error).__name__}: {error}", retryable=True))
        await jobs.finish(db, job, outcome)
        return jobs.DONE

    async def _with_heartbeat(self, job: dict, work) -> str:
        """Run `work`, extending the lease every third of it: a slow step (a cold model, a slow store) keeps the
        job, and only a worker that stopped beating loses it."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.options.lease_s / 3)
                if done:
                    return task.result()
                if not await jobs.extend_lease(self.services.db, job, self.options.lease_s):
                    raise LeaseLost(job["_id"])
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _failed(self, job: dict, failure: JobFailure) -> str:
        db, backoff = self.services.db, self.options.backoff
        if not failure.retryable:
            await jobs.dead_letter(db, job, failure.message)
            return jobs.DEAD
        if backoff.exhausted(job["attempts"]):
            await jobs.dead_letter(db, job, f"gave up after {job['attempts']} attempts: {failure.message}")
            return jobs.DEAD
        return await jobs.retry_later(db, job, backoff.delay(job["attempts"], failure.retry_after), failure.message)

    async def _work(self, job: dict) -> str:
        db = self.services.db
        integration = await integrations.by_id(db, job["integration"])
        if integration is None:
            return "the integration was deleted"
        try:
            await self.services.fetcher.check(integration["store_url"])
        except FetchError as error:
            raise JobFailure(f"the store URL is not allowed: {error.message}", retryable=False) from None
        store = await self._store(integration)

        async def step(name: str, detail: str = "", fence: bool = False) -> None:
            if not await jobs.add_step(db, job, name, detail, lease_s=self.options.lease_s if fence else None):
                raise LeaseLost(job["_id"])

        try:
            if job.get("kind") == "sync":
                return describe(await sync_store(db, integration, store))
            return await annotate_product(self.services, job, store, step)
        except KNOWN_FAILURES as error:
            raise job_failure(error) from error

    async def _store(self, integration: dict) -> WooClient:
        """One client per store, kept: its connections and the store's term ids are reused from job to job."""
        identity = (integration["store_url"], integration["consumer_key"], integration["consumer_secret"])
        known = self._stores.get(integration["_id"])
        if known is not None and known[0] == identity:
            return known[1]
        if known is not None:
            await known[1].aclose()
        store = WooClient(integration["store_url"], self.vault.open(integration["consumer_key"]),
                          self.vault.open(integration["consumer_secret"]), timeout=self.options.store_timeout_s)
        self._stores[integration["_id"]] = (identity, store)
        return store

    async def aclose(self) -> None:
        for _, store in self._stores.values():
            await store.aclose()
        self._stores.clear()


async def serve(settings: Settings, options: Options, stop: asyncio.Event) -> None:
    """Open what the jobs share, run the lanes until `stop`, close everything."""
    from api.catalogue import Catalogues
    from api.main import _open_indexes, _open_inference

    client = open_client(settings.mongo_uri)
    db = client[settings.database]
    await ensure_indexes(db)
    fetcher = SafeHttp(timeout_s=settings.fetch_timeout_s, max_bytes=settings.max_upload_bytes,
                       allow_origins=settings.fetch_allow_origins)
    inference = _open_inference(settings)
    if inference is None:
        raise SystemExit("the worker needs the models: set KALAS_INFERENCE_URL (TorchServe) or KALAS_MODEL_STORE")
    services = Services(db, inference, fetcher, Catalogues(_open_indexes(settings)), ImageFiles(settings.image_dir),
                        settings.max_upload_bytes)
    try:
        log.info("worker started: %d lanes, lease %.0f s", options.lanes, options.lease_s)
        worker = Worker(services, Vault.from_secret_key(settings.secret_key), options)
        try:
            await worker.run(stop)
        finally:
            await worker.aclose()
    finally:
        await inference.aclose()
        await fetcher.aclose()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=4, help="jobs run at the same time (default 4)")
    parser.add_argument("--lease", type=float, default=60.0, help="seconds a claimed job stays ours without news")
    parser.add_argument("--max-attempts", type=int, default=8, help="tries before a job is dead-lettered")
    parser.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds (doubles)")
    parser.add_argument("--backoff-cap", type=float, default=300.0, help="longest retry delay in seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the job log
    options = Options(lanes=args.lanes, lease_s=args.lease,
                      backoff=Backoff(args.backoff, args.backoff_cap, args.max_attempts))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)  # finish the jobs in hand, claim no more
        await serve(Settings.from_env(os.environ), options, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
