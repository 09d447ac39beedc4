"""The daily housekeeping job (api/jobs/housekeeping.py) on the real nx-27017: finished jobs, their steps and
webhook deliveries older than `job_history_days` go; waiting and running work and recent history stay; the next
run is queued a day later, and a worker start joins it instead of queueing another."""
from __future__ import annotations

import asyncio
import time

from api.jobs.housekeeping import EVERY_S, HousekeepingJobs, queue_housekeeping
from api.services import open_services
from tests.api.conftest import make_settings

DAY = 24 * 3600.0


def _job(job_id: str, state: str, age_days: float) -> dict:
    moment = time.time() - age_days * DAY
    return {"_id": job_id, "kind": "product", "state": state, "queued_key": f"key-{job_id}", "wait_key": job_id,
            "run_after": moment, "lease_until": 0.0, "attempts": 1, "created": moment, "updated": moment}


def test_old_history_goes_and_the_next_run_is_queued(mongo_server, mongo_database, tmp_path):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes")
    steps: list[tuple[str, str]] = []

    async def step(name: str, detail: str = "", fence: bool = False) -> None:
        steps.append((name, detail))

    async def go():
        async with open_services(settings) as services:
            db = services.db
            await db.jobs.insert_many([_job("old-done", "done", 40), _job("old-dead", "dead", 31),
                                       _job("old-superseded", "superseded", 35), _job("recent-done", "done", 2),
                                       _job("old-queued", "queued", 40), _job("old-running", "running", 40)])
            await db.job_steps.insert_many([{"_id": f"s{n}", "job": "old-done", "at": time.time() - age * DAY}
                                            for n, age in enumerate((40, 31, 1))])
            await db.webhook_deliveries.insert_many([{"_id": f"d{n}", "integration": "i", "delivery_key": f"k{n}",
                                                      "received": time.time() - age * DAY}
                                                     for n, age in enumerate((45, 29))])
            outcome = await HousekeepingJobs(services).run({"_id": "this-run"}, step)
            left = {"jobs": sorted(j["_id"] for j in await db.jobs.find({"kind": "product"}).to_list(None)),
                    "steps": sorted(s["_id"] for s in await db.job_steps.find({"job": "old-done"}).to_list(None)),
                    "deliveries": sorted(d["_id"] for d in await db.webhook_deliveries.find().to_list(None))}
            waiting = await db.jobs.find({"kind": "housekeeping", "state": "queued"}).to_list(None)
            joined = await queue_housekeeping(services, "worker started")
            return outcome, left, waiting, joined

    outcome, left, waiting, joined = asyncio.run(go())
    assert left == {"jobs": ["old-queued", "old-running", "recent-done"], "steps": ["s2"], "deliveries": ["d1"]}
    assert outcome == "deleted what was older than 30 days: 3 finished jobs, 2 steps, 1 webhook deliveries"
    assert steps == [("pruned", "3 jobs, 2 steps, 1 deliveries")]
    [next_run] = waiting
    assert abs(next_run["run_after"] - (time.time() + EVERY_S)) < 60
    assert joined["_id"] == next_run["_id"]  # a worker start joins the waiting run
