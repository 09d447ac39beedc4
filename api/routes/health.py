"""Liveness and readiness for the orchestrator (outside /api/v1: they are not part of the shops' API).

- `GET /healthz`: the process answers. A failing liveness probe restarts the container, so it checks nothing
  outside the process: a database outage must not restart every API replica.
- `GET /readyz`: MongoDB answers a ping, the models answer (TorchServe's /ping: every model has its workers), and
  the index and image directories are usable. 503 with each check's error while any fails: the load balancer stops sending
  traffic, and nothing restarts. Each check has its own deadline so one hung dependency cannot hang the probe.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Awaitable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.data import db as database
from api.deps import services_of

CHECK_TIMEOUT_S = 3.0

router = APIRouter(tags=["operations"])


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    names = ("mongodb", "models", "index", "images")
    results = await asyncio.gather(_timed(_mongodb(services.db)), _timed(_models(services.inference)),
                                   _timed(asyncio.to_thread(_index, services.catalogues.store,
                                                            services.settings.demo_catalogue)),
                                   _timed(services.images.check()))
    checks = dict(zip(names, results))
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


async def _timed(check: Awaitable[Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
    except Exception as error:  # a readiness probe reports every failure, whatever its kind
        return {"ok": False, "error": f"{type(error).__name__}: {getattr(error, 'message', None) or error}"}
    result = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return result | detail if isinstance(detail, dict) else result


async def _mongodb(db: Any) -> None:
    if db is None:
        raise RuntimeError("the database is not open (the app's start-up has not finished)")
    await database.ping(db)


async def _models(inference: Any) -> None:
    if inference is None:
        raise RuntimeError("no model is configured: set KALAS_INFERENCE_URL or KALAS_MODEL_STORE")
    await inference.ping()


def _index(store: Any, demo_catalogue: str) -> dict[str, Any]:
    """The index directory must take new catalogues; the demo gallery, when there is one, must load."""
    if store is None:
        raise RuntimeError("no vector index store is configured (KALAS_INDEX_DIR)")
    _writable(store.root, "index")
    demo = store.get(demo_catalogue) if store.exists(demo_catalogue) else None
    return {"catalogues": len(store.catalogues()), "demo_gallery": demo is not None}


def _writable(root: Path, what: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise PermissionError(f"the {what} directory {root} is not writable")
