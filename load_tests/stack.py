"""The service as production runs it, on loopback: nx-27017, TorchServe (production config), the API, the worker,
and a WooCommerce store emulator as the shops' store. Everything binds free loopback ports and stops with the run."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import psutil

from kalas.emulators.woocommerce import WooCommerceStore
from kalas.stack import mongo
from kalas.stack import torchserve as torchserve_script
from kalas.stack.production_torchserve import build_model_store, key_file, start_production_torchserve
from kalas.stack.service import Service, service_env

DATABASE = "kalas_load"
# Each shop's limit for the run (all its keys and sessions together; each annotator is a shop of its own, with one
# key). The annotators are closed loops that find the service's capacity; with two one-thread TorchServe workers per
# model one of them reached about 10 requests a second here, the default limit (600 a minute), so the run measured
# the limiter instead of the service (35 annotate 429s in a 2-minute run). 30 a second is above what one annotator
# reaches, and far below what /auth/me is answered at, so the rate-limit probe's burst still overruns its shop's
# (load_tests/provision.py).
RATE_LIMIT_PER_MINUTE = 1800
RATE_LIMIT_BURST = 20


@dataclass
class Stack:
    home: Path
    database: mongo.MongoServer
    torchserve: torchserve_script.Server
    store: WooCommerceStore
    service: Service
    next_archive: Path

    @property
    def api_url(self) -> str:
        return self.service.url

    @property
    def key_file(self) -> Path:
        return key_file(self.torchserve)


def start_stack(home: Path, checkpoint: Path) -> Stack:
    model_store, next_archive = build_model_store(home, checkpoint)
    database = mongo.start(home / "mongo")
    started: list = [lambda: mongo.stop(database)]
    try:
        torchserve = start_production_torchserve(home, model_store)
        started.append(lambda: torchserve_script.stop(torchserve))
        store = WooCommerceStore().start()
        started.append(store.stop)
        env = service_env(database.uri, DATABASE, home / "indexes", [f"127.0.0.1:{store.port}"], torchserve.inference_url)
        env |= {"KALAS_ENVIRONMENT": "production", "KALAS_SECRET_KEY": secrets.token_urlsafe(48),
                "KALAS_TORCHSERVE_KEY_FILE": str(key_file(torchserve)),
                "KALAS_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE), "KALAS_RATE_LIMIT_BURST": str(RATE_LIMIT_BURST)}
        service = Service(env, home)
        started.append(service.stop)
        service.start_api()
        service.start_worker()
    except BaseException:
        for stop in reversed(started):
            stop()
        raise
    return Stack(home, database, torchserve, store, service, next_archive)


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time (user + system) used so far by each part of the service, its child processes included."""
    def used(pid: int) -> float:
        try:
            root = psutil.Process(pid)
            return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0.0

    parts = {"torchserve": stack.torchserve.pgid, "mongodb": stack.database.process.pid,
             "api": stack.service.api.pid if stack.service.api else 0}
    figures = {name: used(pid) for name, pid in parts.items()}
    figures["worker"] = sum(used(worker.pid) for worker in stack.service.workers)
    return figures


def stop_stack(stack: Stack) -> None:
    stack.service.stop()
    stack.store.stop()
    torchserve_script.stop(stack.torchserve)
    mongo.stop(stack.database)
