"""The worker process: `python -m api.worker` runs the durable queue's jobs (settings from the same KALAS_*
variables as the API).

It opens the same services as the API (api/services.py) and runs every kind of job (api/jobs/): WooCommerce
products and syncs, callback deliveries, re-embedding passes, shop-model trainings, a round of store syncs every
`store_sync_minutes`, and a daily housekeeping that deletes old job history. Scale by starting more of them: jobs
are claimed under leases, so two workers never run one job at once.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from api.core.settings import Settings, load_settings
from api.jobs.backoff import Backoff
from api.jobs.callbacks import CallbackJobs
from api.jobs.housekeeping import HousekeepingJobs, housekeeping_at_start
from api.jobs.reembed import ReembedJobs
from api.jobs.runner import Kind, Options, Runner
from api.jobs.shop_model import ShopModelJobs
from api.jobs.store_syncs import StoreSyncJobs, queue_store_syncs
from api.jobs.woocommerce import WooCommerceJobs
from api.services import Services, open_services

log = logging.getLogger("kalas.worker")


def job_kinds(services: Services) -> dict[str, Kind]:
    """Every kind of job, by the name it is queued under (api/data/jobs.py)."""
    store = WooCommerceJobs(services)
    return {"product": store, "sync": store, "correction": store, "import": store, "callback": CallbackJobs(services),
            "reembed": ReembedJobs(services), "shop_model": ShopModelJobs(services),
            "housekeeping": HousekeepingJobs(services), "store_syncs": StoreSyncJobs(services)}


async def run_jobs(services: Services, options: Options, stop: asyncio.Event,
                   kinds: dict[str, Kind] | None = None) -> None:
    """Run the lanes until `stop`; the jobs in hand are finished first. `kinds`: every kind's by default."""
    runner = Runner(services, kinds if kinds is not None else job_kinds(services), options)
    try:
        await runner.run(stop)
    finally:
        await runner.aclose()


async def serve(settings: Settings, options: Options, stop: asyncio.Event) -> None:
    """Open what the jobs share, run the lanes until `stop`, close everything."""
    async with open_services(settings, text_search=False) as services:  # the jobs search no text
        if services.inference is None:
            raise SystemExit("the worker needs the models: set KALAS_INFERENCE_URL (TorchServe) or KALAS_MODEL_STORE")
        await housekeeping_at_start(services)
        await queue_store_syncs(services, "worker started")  # joins the one already waiting, if any
        log.info("worker started: %d lanes, lease %.0f s", options.lanes, options.lease_s)
        await run_jobs(services, options, stop)


def at_least(kind: type[int] | type[float], low: float, why: str):
    """An argparse type: a number of `kind` no smaller than `low`; `why` says what a smaller one would do."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value:  # not a number, or NaN
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}")
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is too small: at least {low:g} ({why})")
        return value
    return parse


def main(argv: list[str] | None = None) -> None:
    first_paragraph = " ".join(__doc__.split("\n\n")[0].split())
    parser = argparse.ArgumentParser(prog="python -m api.worker", description=first_paragraph)
    parser.add_argument("--lanes", type=at_least(int, 1, "a worker with no lane runs nothing and never stops"),
                        default=4, help="jobs run at the same time (default 4)")
    parser.add_argument("--lease", type=at_least(float, 1.0, "a shorter lease lets another worker take a job that runs"),
                        default=60.0, help="seconds a claimed job stays ours without news (default 60)")
    parser.add_argument("--max-attempts", type=at_least(int, 1, "a job is tried at least once"),
                        default=Backoff.max_attempts,
                        help=f"tries before a job is dead-lettered (default {Backoff.max_attempts}: 9 to 18 minutes "
                             "of a store or the models being away)")
    parser.add_argument("--backoff", type=at_least(float, 0.0, "a delay"), default=Backoff.base_s,
                        help="first retry delay in seconds (doubles; default 1)")
    parser.add_argument("--backoff-cap", type=at_least(float, 0.0, "a delay"), default=Backoff.cap_s,
                        help="longest retry delay in seconds (default 300)")
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
        await serve(load_settings(), options, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
