"""Running the durable queue's jobs (api/data/jobs.py), whatever their kind.

Up to a few jobs at a time ("lanes") run in one process, each claimed with a lease, and each records its fate:
done, back in the queue after a backoff with jitter (a peer that failed or was too slow, the models unavailable,
429 after its Retry-After), or dead-lettered (a refusal that will not pass, or the tries used up). A job whose
worker died is claimed again when its lease runs out; a heartbeat extends the lease while the job runs, so a slow
job keeps it and a dead worker loses it. A dead job can be put back in the queue by the shop (the console).

What a job does is its kind's (`Kind`): one module per kind in this folder, looked up by the job's `kind`.

Each database round trip a job makes costs the database and the worker CPU on the machines the models share, so a
job's steps are written together (`StepLog`), and a claim looks for expired leases first only now and then
(docs/benchmarks.md, "A shop's import").
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pymongo.errors import ConnectionFailure

from api.data import jobs
from api.domain.errors import DomainError
from api.jobs.backoff import Backoff
from api.services import Services

log = logging.getLogger("kalas.worker")

Step = Callable[..., Awaitable[None]]  # step(name, detail="", fence=False): record a step; fence: check the lease


class JobFailure(Exception):
    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.retryable, self.retry_after = message, retryable, retry_after


class Kind(Protocol):
    async def run(self, job: dict, step: Step) -> str:
        """Do the job; the outcome in words. Raise DomainError (or JobFailure) when it cannot finish."""

    async def gave_up(self, job: dict, reason: str) -> None:
        """The job is dead-lettered: record it where the shop looks."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Options:
    lanes: int = 4
    lease_s: float = 60.0
    idle_poll_s: float = 0.05
    backoff: Backoff = field(default_factory=Backoff)
    steps_after_s: float = 0.5  # a step not yet written waits at most this long (StepLog)


class StepLog:
    """A running job's steps, written together: a step waits for the next fenced one (written with the lease's
    extension), for the job's end, or `after_s` from the first step waiting, whichever comes first. The seven steps
    a worker records for a product job cost two writes instead of seven, and a slow job's progress still shows within
    `after_s`; a step whose timed write failed is logged and lost, the job goes on."""

    def __init__(self, db, after_s: float, waiting: list[dict]) -> None:
        self.db, self.after_s = db, after_s
        self._waiting: list[dict] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task] = set()
        for record in waiting:
            self.add(record)

    def add(self, record: dict) -> None:
        self._waiting.append(record)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.after_s, self._write_now)

    def take(self) -> list[dict]:
        """The steps waiting, to be written with the caller's own (they are no longer this log's)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        taken, self._waiting = self._waiting, []
        return taken

    def _write_now(self) -> None:
        self._timer = None
        task = asyncio.create_task(jobs.add_steps(self.db, self.take()))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:  # the job goes on; only its progress shows later
            log.warning("a job's steps could not be written yet: %s", task.exception())

    async def drain(self) -> None:
        """Wait for the writes under way (the job's end is written after them)."""
        await asyncio.gather(*self._writes, return_exceptions=True)


class LeaseLost(Exception):
    """Another worker took the job over (ours was too slow or presumed dead): stop touching it."""


class Runner:
    def __init__(self, services: Services, kinds: Mapping[str, Kind], options: Options = Options(),
                 name: str | None = None) -> None:
        self.services, self.kinds, self.options = services, kinds, options
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> None:
        """One claimer feeds up to `lanes` jobs at a time: a single poller keeps an idle worker's load on the
        database low while a new job is still picked up within `idle_poll_s`."""
        free = asyncio.Semaphore(self.options.lanes)
        running: set[asyncio.Task] = set()
        pause = 0.005
        expired_looked = -float("inf")
        while not stop.is_set():
            await free.acquire()
            if stop.is_set():  # stopped while every lane was busy
                free.release()
                break
            # Expired leases first a few times a lease (and whenever no queued job is due): a crashed worker's job
            # waits at most a quarter of a lease longer, and a claim in a busy queue is one query, not two.
            expired_first = time.monotonic() - expired_looked >= self.options.lease_s / 4
            expired_looked = time.monotonic() if expired_first else expired_looked
            claimed: list[dict] = []
            try:
                job = await jobs.claim(self.services.db, self.name, self.options.lease_s, expired_first=expired_first,
                                       steps=claimed)
            except ConnectionFailure as error:  # the database away: one line a try, not a traceback
                log.warning("claiming a job failed: the database cannot be reached (%s); trying again",
                            type(error).__name__)
                job = None
            except Exception:  # anything else the database answered: wait and claim again
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
            task = asyncio.create_task(self._run(job, StepLog(self.services.db, self.options.steps_after_s, claimed)))
            running.add(task)
            task.add_done_callback(lambda done: (running.discard(done), free.release()))
        if running:  # stopping: finish the jobs in hand, claim no more
            await asyncio.gather(*running)

    async def _run(self, job: dict, steps: StepLog) -> None:
        try:
            await self.handle(job, steps)
        except Exception:  # recording the outcome failed: the lease runs out and the job is claimed again
            log.exception("job %s: its outcome could not be recorded", job["_id"])

    async def handle(self, job: dict, steps: StepLog) -> str:
        """Run one claimed job to its recorded end; returns the state it ended in."""
        kind = self.kinds.get(job.get("kind") or "product")
        try:
            if kind is None:
                raise JobFailure(f"no worker here runs jobs of kind {job.get('kind')!r}", retryable=False)
            outcome = await self._with_heartbeat(job, kind.run(job, self._stepper(job, steps)))
        except LeaseLost:
            log.warning("job %s: lease lost to another worker", job["_id"])
            await jobs.add_steps(self.services.db, steps.take())
            return "lease lost"
        except JobFailure as failure:
            return await self._failed(job, kind, failure, steps)
        except DomainError as error:
            return await self._failed(job, kind, JobFailure(error.message, error.retryable, error.retry_after), steps)
        except Exception as error:  # a bug or an unforeseen outage: retried with backoff, and visible to the shop
            log.exception("job %s failed", job["_id"])
            return await self._failed(job, kind, JobFailure(f"{type(error).__name__}: {error}", retryable=True),
                                      steps)
        await steps.drain()
        await jobs.finish(self.services.db, job, outcome, earlier=steps.take())
        return jobs.DONE

    def _stepper(self, job: dict, steps: StepLog) -> Step:
        async def step(name: str, detail: str = "", fence: bool = False) -> None:
            if not fence:
                steps.add(jobs.step_record(job, name, detail))
                return
            if not await jobs.add_step(self.services.db, job, name, detail, lease_s=self.options.lease_s,
                                       earlier=steps.take()):
                raise LeaseLost(job["_id"])

        return step

    async def _with_heartbeat(self, job: dict, work: Awaitable[str]) -> str:
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

    async def _failed(self, job: dict, kind: Kind | None, failure: JobFailure, steps: StepLog) -> str:
        db, backoff = self.services.db, self.options.backoff
        await steps.drain()
        if failure.retryable and not backoff.exhausted(job["attempts"]):
            return await jobs.retry_later(db, job, backoff.delay(job["attempts"], failure.retry_after),
                                          failure.message, earlier=steps.take())
        reason = failure.message if not failure.retryable else f"gave up after {job['attempts']} attempts: {failure.message}"
        if await jobs.dead_letter(db, job, reason, earlier=steps.take()) and kind is not None:
            await kind.gave_up(job, reason)
        return jobs.DEAD

    async def aclose(self) -> None:
        for kind in self.kinds.values():
            await kind.aclose()
