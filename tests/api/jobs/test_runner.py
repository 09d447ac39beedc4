"""The job runner (api/jobs/runner.py) against the real nx-27017: a job's steps are written together, yet a slow
job's progress shows while it runs."""
import asyncio
import time
from types import SimpleNamespace

from pymongo import AsyncMongoClient, monitoring

from api.data import jobs
from api.jobs.runner import Options, Runner

FAST = Options(lanes=2, lease_s=10.0, idle_poll_s=0.02, steps_after_s=0.2)


class StepWrites(monitoring.CommandListener):
    """Counts the insert commands that reach `job_steps` (each a round trip to the database)."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert" and event.command.get("insert") == "job_steps":
            self.count += 1

    def succeeded(self, event) -> None: ...

    def failed(self, event) -> None: ...


class Stepping:
    """A job kind whose work is a few steps, one of them fenced, with a pause in the middle."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.pause_s = pause_s

    async def run(self, job: dict, step) -> str:
        await step("product read")
        await step("photo fetched")
        await asyncio.sleep(self.pause_s)
        await step("indexed", fence=True)
        await step("written back")
        return "written"

    async def gave_up(self, job: dict, reason: str) -> None: ...

    async def aclose(self) -> None: ...


def run_one(mongo_server, mongo_database, kind: Stepping, while_running=None):
    """Enqueue one job, run the runner until it is done; (its steps, the job_steps inserts after the enqueue,
    what `while_running` saw halfway)."""
    writes = StepWrites()

    async def go():
        client = AsyncMongoClient(mongo_server.uri, event_listeners=[writes])
        try:
            db = client[mongo_database]
            await jobs.ensure_indexes(db)
            job, _ = await jobs.enqueue_kind(db, "stepping", "acct", "stepping:1", "a test")
            before = writes.count
            stop = asyncio.Event()
            runner = Runner(SimpleNamespace(db=db), {"stepping": kind}, FAST, name="w1")
            running = asyncio.create_task(runner.run(stop))
            seen = None
            if while_running is not None:
                seen = await while_running(db, job)
            while (await jobs.get(db, "acct", job["_id"]))["state"] != jobs.DONE:
                await asyncio.sleep(0.02)
            stop.set()
            await running
            steps = (await jobs.steps(db, [job["_id"]]))[job["_id"]]
            return [s["step"] for s in steps], writes.count - before, seen
        finally:
            await client.close()

    return asyncio.run(go())


def test_a_quick_jobs_steps_are_written_with_its_fence_and_its_end(mongo_server, mongo_database):
    steps, inserts, _ = run_one(mongo_server, mongo_database, Stepping())
    assert steps == ["queued", "claimed", "product read", "photo fetched", "indexed", "written back", "done"]
    assert inserts == 2  # claimed..indexed with the fence, written back + done with the end (one each before: 6)


def test_a_slow_jobs_progress_shows_while_it_runs(mongo_server, mongo_database):
    async def halfway(db, job):
        deadline = time.monotonic() + 0.9  # the job pauses 1.5 s after "photo fetched"; steps wait at most 0.2 s
        while time.monotonic() < deadline:
            shown = [s["step"] for s in (await jobs.steps(db, [job["_id"]]))[job["_id"]]]
            if "photo fetched" in shown:
                return shown, (await jobs.get(db, "acct", job["_id"]))["state"]
            await asyncio.sleep(0.05)
        return None

    steps, _, seen = run_one(mongo_server, mongo_database, Stepping(pause_s=1.5), while_running=halfway)
    assert seen == (["queued", "claimed", "product read", "photo fetched"], jobs.RUNNING)
    assert steps == ["queued", "claimed", "product read", "photo fetched", "indexed", "written back", "done"]
