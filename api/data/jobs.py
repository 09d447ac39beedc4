"""The durable job queue in MongoDB: all background work of the service, one job per piece of work.

Kinds (`kind`): `product` annotates one WooCommerce store product, `sync` syncs a store, `callback` delivers one
event to a shop's callback URL, `reembed` makes a shop's stored vectors again under a new embedder, `correction`
writes a review to the store, `import` brings a store's catalogue in, `shop_model` trains a shop's own model,
`housekeeping` deletes old history (`prune`), `store_syncs` queues every store's sync. The runner that claims them
is api/jobs/runner.py; what each kind does is in api/jobs/.

- Claiming reads the next due job and takes its lease with a compare-and-set on what was read (its state, attempts
  and lease): of two workers that read the same job, one takes it and the other looks again. A job whose lease ran
  out (its worker died) is claimed again, and `attempts` counts every claim. (One `find_one_and_update` over an
  `$or` of both kinds of due job was the first design: nx-27017 answers it by reading the whole jobs collection,
  finished jobs included: 5 ms with 200 queued beside 5,000 finished, 8-17 ms with 2,000 queued; the two reads here
  use the `state` index, 0.5 ms; measured.)
- Every write a worker makes afterwards is fenced by the attempt it claimed, so a worker that lost its lease cannot
  overwrite the work of the one that took over.
- At most one job per piece of work waits in the queue: `queued_key` is unique, holds the job's `wait_key`
  (`<integration>:<product>` for a store product) while the job is queued and a throw-away value once it is
  claimed, so deliveries arriving meanwhile join the waiting job.
- At most one job per piece of work runs: `running_key` (unique where it is set) holds the `wait_key` while the job
  runs. A job queued while another for the same work runs (a delivery that came after the product was read: the
  running job may have seen the product before the change) is claimed only once that one has ended, and then finds
  the work done or does what is left; run side by side, both would annotate and write the same product (WooCommerce
  10.8 fires product.created and product.published together for every new product).
- Every step goes to `job_steps`, so the shop can see what happened to each delivery. A worker writes a running
  job's steps together (api/jobs/runner.py, `StepLog`): each of these functions takes the `earlier` steps not yet
  written and writes them with its own in one round trip.

Times are epoch seconds (floats): nx-27017 stores a datetime written by `$set` as a string, which would break
the lease comparisons; numbers compare the same on every MongoDB-protocol server.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import insert_once, page

QUEUED, RUNNING, DONE, DEAD, SUPERSEDED = "queued", "running", "done", "dead", "superseded"
WAITING = "waiting"  # not a state a job is stored in: a queued job not due yet, as the metrics count it
CLAIM_TRIES = 8  # a claim lost to another worker is tried again with the next due job
BUSY_DEFER_S = 1.0  # a due job whose work another job is running is looked at again this much later
NOT_RUNNING = {"$unset": {"running_key": ""}}


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.jobs.create_index([("queued_key", ASCENDING)], unique=True)
    await db.jobs.create_index([("running_key", ASCENDING)], unique=True,
                               partialFilterExpression={"running_key": {"$type": "string"}})
    await db.jobs.create_index([("state", ASCENDING), ("run_after", ASCENDING)])
    # What MongoDB would answer from the index above, nx-27017 answers by reading every job unless `state` has an
    # index of its own (claim: 4.8 ms against 0.55 ms beside 5,000 finished jobs; measured).
    await db.jobs.create_index([("state", ASCENDING)])
    await db.jobs.create_index([("integration", ASCENDING), ("created", DESCENDING)])
    # The same for a store's jobs list, through the index above (26 → 8.5 ms at 20,000 jobs of 10 stores;
    # scripts/bench_lists.py).
    await db.jobs.create_index([("integration", ASCENDING)])
    await db.jobs.create_index([("wait_key", ASCENDING), ("created", DESCENDING)])
    # What nx-27017 reads a piece of work's jobs through (`for_work`: the shop model page, a callback delivery's
    # retry); without it, every job kept (`python -m scripts.bench_nx_reads`).
    await db.jobs.create_index([("wait_key", ASCENDING)])
    await db.job_steps.create_index([("job", ASCENDING), ("at", ASCENDING)])
    await db.job_steps.create_index([("job", ASCENDING)])  # what nx-27017 reads a job's steps through (`steps`)


def _store_key(integration_id: str, product_id: int | None) -> str:
    # A sync job has no product: one sync at most waits per store.
    return f"{integration_id}:{'sync' if product_id is None else product_id}"


def _waiting_key(job: dict) -> str:
    return job.get("wait_key") or _store_key(job["integration"], job["product_id"])


def _claimed_key() -> str:
    return f"claimed:{new_id()}"


async def enqueue(db: AsyncDatabase, account_id: str, integration_id: str, product_id: int | None,
                  reason: str) -> tuple[dict, bool]:
    """(the job waiting for this store product — or the store's sync job when `product_id` is None —, whether it
    was created now rather than joined)."""
    return await enqueue_kind(db, "sync" if product_id is None else "product", account_id,
                              _store_key(integration_id, product_id), reason,
                              {"integration": integration_id, "product_id": product_id})


async def enqueue_kind(db: AsyncDatabase, kind: str, account_id: str | None, wait_key: str, reason: str,
                       fields: dict[str, Any] | None = None, delay_s: float = 0.0) -> tuple[dict, bool]:
    """(the job of `kind` waiting under `wait_key`, whether it was created now rather than joined). `fields` are
    the kind's own (what it works on); `delay_s`: not run before that many seconds from now."""
    for _ in range(5):
        moment = time.time()
        job = {"integration": None, "product_id": None, **(fields or {}),
               "_id": new_id(), "account": account_id, "kind": kind, "wait_key": wait_key,
               "reason": reason, "state": QUEUED, "queued_key": wait_key,
               "attempts": 0, "run_after": moment + delay_s, "lease_until": 0.0, "worker": None, "last_error": None,
               "outcome": None, "created": moment, "updated": moment}
        try:
            await insert_once(db.jobs, job)
            await add_step(db, job, "queued", reason)
            return job, True
        except DuplicateKeyError:
            waiting = await db.jobs.find_one({"queued_key": wait_key})
            if waiting is not None:
                return waiting, False
            # Claimed between our insert and our look-up: the key is free again, insert once more.
    raise RuntimeError(f"could not enqueue a {kind} job ({wait_key}): the queue kept changing under us")


async def enqueue_correction(db: AsyncDatabase, account_id: str, annotation: dict, reason: str) -> None:
    """A review of a store product's annotation, to be written to the store (api/jobs/woocommerce.py)."""
    source = annotation["source"]
    await enqueue_kind(db, "correction", account_id, f"correction:{annotation['_id']}", reason,
                       {"integration": source["integration"], "product_id": int(source["product_id"]),
                        "annotation": annotation["_id"]})


async def due_by(db: AsyncDatabase, job: dict, moment: float) -> dict:
    """The queued `job` due at `moment` at the latest (its `run_after` brought forward when it was later); as it is
    when it was claimed meanwhile."""
    if job["state"] == QUEUED and job["run_after"] > moment:
        if (await db.jobs.update_one({"_id": job["_id"], "state": QUEUED, "run_after": job["run_after"]},
                                     {"$set": {"run_after": moment, "updated": time.time()}})).modified_count:
            return {**job, "run_after": moment}
    return job


async def claim(db: AsyncDatabase, worker: str, lease_s: float, *, expired_first: bool = True,
                steps: list[dict] | None = None) -> dict | None:
    """The next due job, now leased to `worker`: a running job whose lease expired (its worker died) first, else the
    queued job due longest. `expired_first=False`: the queued job first, and expired leases only when none is due
    (a worker that looks for them first only now and then saves a query a claim). `steps`: the "claimed" step is
    appended there, to be written with the job's next steps, instead of written now."""
    for _ in range(CLAIM_TRIES):
        moment = time.time()

        async def expired() -> dict | None:
            return await db.jobs.find_one({"state": RUNNING, "lease_until": {"$lt": moment}},
                                          sort=[("lease_until", ASCENDING)])

        async def due() -> dict | None:
            return await db.jobs.find_one({"state": QUEUED, "run_after": {"$lte": moment}},
                                          sort=[("run_after", ASCENDING)])

        candidate = (await expired() or await due()) if expired_first else (await due() or await expired())
        if candidate is None:
            return None
        taken = {"state": RUNNING, "lease_until": moment + lease_s, "worker": worker, "queued_key": _claimed_key(),
                 "running_key": _waiting_key(candidate), "updated": moment}
        as_read = {"_id": candidate["_id"], "state": candidate["state"], "attempts": candidate["attempts"],
                   "lease_until": candidate["lease_until"]}
        try:
            result = await db.jobs.update_one(as_read, {"$set": taken, "$inc": {"attempts": 1}})
        except DuplicateKeyError:  # another job for the same work is running: this one waits for its end
            later = "run_after" if candidate["state"] == QUEUED else "lease_until"  # (a lease of a dead worker's)
            await db.jobs.update_one(as_read, {"$set": {later: moment + BUSY_DEFER_S}})
            continue
        if result.modified_count:
            job = {**candidate, **taken, "attempts": candidate["attempts"] + 1}
            claimed = step_record(job, "claimed", f"attempt {job['attempts']} by {worker}")
            if steps is None:
                await add_steps(db, [claimed])
            else:
                steps.append(claimed)
            return job
    return None  # others took every job this worker read: it asks again at its next turn


async def prune(db: AsyncDatabase, older_than_s: float) -> dict[str, int]:
    """Delete the finished jobs (done, dead, superseded) last changed more than `older_than_s` ago, and the steps
    recorded before then; how many of each went."""
    cutoff = time.time() - older_than_s
    finished = await db.jobs.delete_many({"state": {"$in": [DONE, DEAD, SUPERSEDED]}, "updated": {"$lt": cutoff}})
    steps = await db.job_steps.delete_many({"at": {"$lt": cutoff}})
    return {"jobs": finished.deleted_count, "steps": steps.deleted_count}


def _fence(job: dict) -> dict:
    return {"_id": job["_id"], "state": RUNNING, "attempts": job["attempts"]}


def step_record(job: dict, step: str, detail: str = "", ok: bool = True) -> dict:
    """A step of `job` as `job_steps` keeps it, timed now (written by `add_steps`, or with a later step)."""
    return {"_id": new_id(), "job": job["_id"], "integration": job.get("integration"), "attempt": job["attempts"],
            "at": time.time(), "step": step, "detail": detail[:500], "ok": ok}


async def add_steps(db: AsyncDatabase, records: Sequence[dict]) -> None:
    if records:
        await db.job_steps.insert_many(list(records))


async def add_step(db: AsyncDatabase, job: dict, step: str, detail: str = "", ok: bool = True,
                   lease_s: float | None = None, earlier: Sequence[dict] = ()) -> bool:
    """Record a step (after the `earlier` ones not yet written); with `lease_s` also extend the lease. False when the
    job's lease was lost to another worker."""
    await add_steps(db, [*earlier, step_record(job, step, detail, ok)])
    if lease_s is None:
        return True
    moment = time.time()
    result = await db.jobs.update_one(_fence(job), {"$set": {"lease_until": moment + lease_s, "updated": moment}})
    return result.matched_count == 1


async def extend_lease(db: AsyncDatabase, job: dict, lease_s: float) -> bool:
    """The worker's heartbeat; False when the lease was already lost to another worker."""
    moment = time.time()
    result = await db.jobs.update_one(_fence(job), {"$set": {"lease_until": moment + lease_s, "updated": moment}})
    return result.matched_count == 1


async def _ended(db: AsyncDatabase, job: dict, matched: bool, step: str, detail: str, ok: bool,
                 earlier: Sequence[dict]) -> bool:
    """The job's last step recorded (after the `earlier` ones) when its end was written; else only the earlier ones
    (what this attempt did before another worker took the job over)."""
    if matched:
        await add_step(db, job, step, detail, ok, earlier=earlier)
    else:
        await add_steps(db, earlier)
    return matched


async def finish(db: AsyncDatabase, job: dict, outcome: str, earlier: Sequence[dict] = ()) -> bool:
    result = await db.jobs.update_one(_fence(job), {"$set": {"state": DONE, "outcome": outcome, "last_error": None,
                                                             "lease_until": 0.0, "updated": time.time()},
                                                    **NOT_RUNNING})
    return await _ended(db, job, result.matched_count == 1, "done", outcome, True, earlier)


async def retry_later(db: AsyncDatabase, job: dict, delay_s: float, error: str, earlier: Sequence[dict] = ()) -> str:
    """Back to the queue after `delay_s`. If another job for the same work is already waiting, that one will do
    the work, and this one is marked superseded. Returns the state the job ended in ("" if the lease was lost)."""
    moment = time.time()
    changes = {"state": QUEUED, "run_after": moment + delay_s, "lease_until": 0.0, "last_error": error,
               "queued_key": _waiting_key(job), "updated": moment}
    try:
        result = await db.jobs.update_one(_fence(job), {"$set": changes, **NOT_RUNNING})
    except DuplicateKeyError:
        result = await db.jobs.update_one(_fence(job), {"$set": {"state": SUPERSEDED, "last_error": error,
                                                                 "lease_until": 0.0, "updated": moment},
                                                        **NOT_RUNNING})
        superseded = await _ended(db, job, result.matched_count == 1, "superseded",
                                  "a newer job for this product is waiting and will do the work", True, earlier)
        return SUPERSEDED if superseded else ""
    retried = await _ended(db, job, result.matched_count == 1, "retry scheduled", f"in {delay_s:.1f} s after: {error}",
                           False, earlier)
    return QUEUED if retried else ""


async def dead_letter(db: AsyncDatabase, job: dict, error: str, earlier: Sequence[dict] = ()) -> bool:
    result = await db.jobs.update_one(_fence(job), {"$set": {"state": DEAD, "last_error": error, "lease_until": 0.0,
                                                             "updated": time.time()}, **NOT_RUNNING})
    return await _ended(db, job, result.matched_count == 1, "dead-lettered", error, False, earlier)


async def retry(db: AsyncDatabase, account_id: str, job_id: str) -> dict | None:
    """Put a finished or dead job back in the queue now, with its attempts reset; None if the shop has no such
    job. When another job for the same work is already waiting, that one is returned instead."""
    job = await db.jobs.find_one({"_id": job_id, "account": account_id})
    if job is None or job["state"] in (QUEUED, RUNNING):
        return job
    moment = time.time()
    try:
        await db.jobs.update_one({"_id": job_id, "state": job["state"]}, {"$set": {
            "state": QUEUED, "attempts": 0, "run_after": moment, "lease_until": 0.0, "updated": moment,
            "queued_key": _waiting_key(job), "reason": "retried by the shop"}})
    except DuplicateKeyError:
        return await db.jobs.find_one({"queued_key": _waiting_key(job)})
    await add_step(db, job, "retried", "put back in the queue by the shop")
    return await db.jobs.find_one({"_id": job_id})


async def for_work(db: AsyncDatabase, account_id: str, wait_key: str) -> dict | None:
    """The latest job of the shop for this piece of work (its `wait_key`), whatever its state."""
    return await db.jobs.find_one({"account": account_id, "wait_key": wait_key}, sort=[("created", DESCENDING)])


async def get(db: AsyncDatabase, account_id: str, job_id: str) -> dict | None:
    return await db.jobs.find_one({"_id": job_id, "account": account_id})


async def list_for(db: AsyncDatabase, account_id: str, integration_id: str, offset: int, limit: int,
                   state: str | None = None) -> tuple[list[dict], int]:
    query: dict[str, Any] = {"account": account_id, "integration": integration_id}
    if state:
        query["state"] = state
    return await page(db.jobs, query, offset, limit)


async def steps(db: AsyncDatabase, job_ids: list[str]) -> dict[str, list[dict]]:
    """Each job's steps in order. One query a job, side by side: nx-27017 answers `{"job": {"$in": [...]}}` by
    reading every step of every job (a page's 20 jobs among 80,000 steps: 143 ms against 27 ms so, one job's
    through the `job` index; `python -m scripts.bench_nx_reads`)."""
    async def of(job_id: str) -> list[dict]:
        return await db.job_steps.find({"job": job_id}).sort([("at", ASCENDING)]).to_list(None)

    unique = list(dict.fromkeys(job_ids))
    return dict(zip(unique, await asyncio.gather(*(of(job_id) for job_id in unique))))


async def counts(db: AsyncDatabase, integration_id: str) -> dict[str, int]:
    pipeline = [{"$match": {"integration": integration_id}}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
    return {row["_id"]: row["n"] async for row in await db.jobs.aggregate(pipeline)}


async def kind_state_counts(db: AsyncDatabase, moment: float) -> dict[tuple[str, str], int]:
    """Jobs by (kind, state), the queued ones not due at `moment` as state "waiting" (the metrics' queue depth and
    outcomes). A job queued before jobs had kinds is a product's."""
    counts: dict[tuple[str, str], int] = {}
    # Grouped by one text key: nx-27017 takes a group's `_id` document as a constant (every job in one group).
    key = {"$concat": [{"$ifNull": ["$kind", "product"]}, ":", "$state"]}
    async for row in await db.jobs.aggregate([{"$project": {"key": key}}, {"$group": {"_id": "$key", "n": {"$sum": 1}}}]):
        kind, _, state = row["_id"].rpartition(":")
        counts[(kind, state)] = row["n"]
    async for row in await db.jobs.aggregate([{"$match": {"state": QUEUED, "run_after": {"$gt": moment}}},
                                              {"$group": {"_id": "$kind", "n": {"$sum": 1}}}]):
        kind = row["_id"] or "product"  # (a job queued between the two reads is in this one alone)
        counts[(kind, QUEUED)] = max(0, counts.get((kind, QUEUED), 0) - row["n"])
        counts[(kind, WAITING)] = counts.get((kind, WAITING), 0) + row["n"]
    return counts
