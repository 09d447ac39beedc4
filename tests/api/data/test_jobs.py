"""The job queue's semantics against the real nx-27017 server: leases, fencing, coalescing, dead letters, retry."""
import asyncio

import pytest

from api.data import jobs
from api.data.db import open_client


@pytest.fixture
def db(mongo_server, mongo_database):
    """Where this test's database is; each scenario opens its own async client in its own event loop."""
    return mongo_server.uri, mongo_database


def run(db, scenario):
    uri, name = db

    async def go():
        client = open_client(uri)
        try:
            database = client[name]
            await jobs.ensure_indexes(database)
            return await scenario(database)
        finally:
            await client.close()

    return asyncio.run(go())


def test_a_claimed_job_is_leased_and_a_second_claim_finds_nothing(db):
    async def scenario(database):
        job, created = await jobs.enqueue(database, "acct", "integ", 7, "product.created")
        claimed = await jobs.claim(database, "w1", lease_s=30)
        return created, job, claimed, await jobs.claim(database, "w2", lease_s=30)

    created, job, claimed, second = run(db, scenario)
    assert created and claimed["_id"] == job["_id"]
    assert (claimed["state"], claimed["attempts"], claimed["worker"]) == ("running", 1, "w1")
    assert second is None


def test_an_expired_lease_is_taken_again_and_the_first_worker_is_fenced_off(db):
    async def scenario(database):
        await jobs.enqueue(database, "acct", "integ", 7, "product.created")
        first = await jobs.claim(database, "crashed", lease_s=0.05)
        await asyncio.sleep(0.1)
        second = await jobs.claim(database, "w2", lease_s=30)
        late_write = await jobs.finish(database, first, "stale result")
        await jobs.finish(database, second, "annotated")
        return second, late_write, await jobs.get(database, "acct", second["_id"])

    second, late_write, final = run(db, scenario)
    assert second["attempts"] == 2 and second["worker"] == "w2"
    assert late_write is False
    assert (final["state"], final["outcome"]) == ("done", "annotated")


def test_a_claim_that_looks_at_the_queue_first_still_takes_an_expired_lease_when_nothing_is_queued(db):
    async def scenario(database):
        await jobs.enqueue(database, "acct", "integ", 7, "created")
        crashed = await jobs.claim(database, "crashed", lease_s=0.05)
        await asyncio.sleep(0.1)
        await jobs.enqueue(database, "acct", "integ", 8, "created")
        steps: list[dict] = []
        queued_first = await jobs.claim(database, "w2", lease_s=30, expired_first=False, steps=steps)
        then_expired = await jobs.claim(database, "w2", lease_s=30, expired_first=False)
        written = (await jobs.steps(database, [queued_first["_id"]]))[queued_first["_id"]]
        return crashed, queued_first, then_expired, steps, [s["step"] for s in written]

    crashed, queued_first, then_expired, steps, written = run(db, scenario)
    assert queued_first["product_id"] == 8  # the queue first, though product 7's lease ran out earlier
    assert then_expired["_id"] == crashed["_id"] and then_expired["attempts"] == 2
    assert [s["step"] for s in steps] == ["claimed"] and written == ["queued"]  # "claimed" left to the caller


def test_deliveries_for_a_waiting_product_join_its_job_but_not_a_running_one(db):
    async def scenario(database):
        a, a_new = await jobs.enqueue(database, "acct", "integ", 7, "created")
        b, b_new = await jobs.enqueue(database, "acct", "integ", 7, "updated")
        other, other_new = await jobs.enqueue(database, "acct", "integ", 8, "created")
        await jobs.claim(database, "w1", lease_s=30)  # takes product 7's job (oldest first)
        c, c_new = await jobs.enqueue(database, "acct", "integ", 7, "updated again")
        return (a, a_new), (b, b_new), (other, other_new), (c, c_new)

    (a, a_new), (b, b_new), (other, other_new), (c, c_new) = run(db, scenario)
    assert a_new and not b_new and b["_id"] == a["_id"]
    assert other_new and other["_id"] != a["_id"]
    assert c_new and c["_id"] != a["_id"]  # the running job may have read the product before this change


def test_a_job_for_work_that_is_running_waits_for_its_end(db):
    """Product 7's second job (a delivery after its first job had read the product) is not run beside the first:
    other work is claimed meanwhile, and it is claimed once the first has ended."""
    async def scenario(database):
        first, _ = await jobs.enqueue(database, "acct", "integ", 7, "product.published")
        running = await jobs.claim(database, "w1", lease_s=30)
        second, second_new = await jobs.enqueue(database, "acct", "integ", 7, "product.created")
        other, _ = await jobs.enqueue(database, "acct", "integ", 8, "product.created")
        meanwhile = [await jobs.claim(database, "w2", lease_s=30), await jobs.claim(database, "w2", lease_s=30)]
        await jobs.finish(database, running, "annotated")
        await asyncio.sleep(jobs.BUSY_DEFER_S + 0.1)
        after = await jobs.claim(database, "w2", lease_s=30)
        await jobs.retry_later(database, after, 0.0, "store answered 503")  # back in the queue: not running
        return first, running, second, second_new, other, meanwhile, after, await jobs.claim(database, "w3", 30)

    first, running, second, second_new, other, meanwhile, after, again = run(db, scenario)
    assert running["_id"] == first["_id"] and second_new and second["_id"] != first["_id"]
    assert meanwhile[0]["_id"] == other["_id"] and meanwhile[1] is None  # product 7's second job waits
    assert after["_id"] == second["_id"] and after["attempts"] == 1  # waiting was not an attempt
    assert again["_id"] == second["_id"] and again["attempts"] == 2


def test_a_retried_job_waits_its_delay_and_a_waiting_twin_supersedes_it(db):
    async def scenario(database):
        await jobs.enqueue(database, "acct", "integ", 7, "created")
        job = await jobs.claim(database, "w1", lease_s=30)
        state = await jobs.retry_later(database, job, 0.3, "store answered 503")
        too_early = await jobs.claim(database, "w1", lease_s=30)
        await asyncio.sleep(0.35)
        again = await jobs.claim(database, "w1", lease_s=30)
        twin, _ = await jobs.enqueue(database, "acct", "integ", 7, "updated")
        superseded = await jobs.retry_later(database, again, 0.0, "store answered 503")
        return state, too_early, again, superseded

    state, too_early, again, superseded = run(db, scenario)
    assert state == "queued" and too_early is None
    assert again["attempts"] == 2 and again["last_error"] == "store answered 503"
    assert superseded == "superseded"


def test_a_dead_job_is_retried_by_the_shop_with_attempts_reset_and_every_step_recorded(db):
    async def scenario(database):
        await jobs.enqueue(database, "acct", "integ", 7, "created")
        job = await jobs.claim(database, "w1", lease_s=30)
        await jobs.dead_letter(database, job, "the store refused the keys (401)")
        assert await jobs.retry(database, "another shop", job["_id"]) is None
        retried = await jobs.retry(database, "acct", job["_id"])
        steps = (await jobs.steps(database, [job["_id"]]))[job["_id"]]
        return retried, [s["step"] for s in steps], await jobs.counts(database, "integ")

    retried, steps, counts = run(db, scenario)
    assert (retried["state"], retried["attempts"]) == ("queued", 0)
    assert steps == ["queued", "claimed", "dead-lettered", "retried"]
    assert counts == {"queued": 1}


def test_concurrent_claimers_never_share_a_job(db):
    async def scenario(database):
        for product_id in range(20):
            await jobs.enqueue(database, "acct", "integ", product_id, "created")

        async def claimer(name):
            taken = []
            while (job := await jobs.claim(database, name, lease_s=30)) is not None:
                taken.append(job["product_id"])
            return taken

        return await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))

    taken = [p for lane in run(db, scenario) for p in lane]
    assert sorted(taken) == list(range(20))
