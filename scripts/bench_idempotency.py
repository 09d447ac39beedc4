"""What the Idempotency-Key costs a create (api/idempotency.py): with the header and without it.

    python -m scripts.bench_idempotency [--requests 2000] [--mongo-uri URI]

Without the header: a POST through the route class `Idempotent` against the same POST through FastAPI's plain
route, each mounted on a real app (its authentication by API key, remembered as in production) and called
in-process as ASGI (no HTTP), alternating blocks so that both meet the same machine load; the difference is what
every create now pays. With the header: the database's
part, against a fresh nx-27017 of its own unless --mongo-uri names a server: a new key's claim and its answer kept
(`claim` + `finish`), and a key sent again (`claim` finding the kept answer). Prints p50/p95 and the load average.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

import httpx

from api.core.settings import Settings
from api.data import idempotency
from api.data.db import ensure_indexes, open_client
from api.deps import CurrentAccount
from api.idempotency import Idempotent, KEEP_S, LEASE_S
from api.main import create_app
from kalas import bench

BLOCK = 100


def _bench_router(route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(route_class=route_class)

    @router.post("/things", status_code=201)
    async def make(account: CurrentAccount) -> dict:
        return {"made": account.id}

    return router


async def _post(app: FastAPI, path: str, api_key: str) -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"bench"), (b"content-length", b"0"), (b"x-api-key", api_key.encode())],
             "client": ("127.0.0.1", 1), "server": ("bench", 80), "state": {}}
    statuses = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [201]:
        raise RuntimeError(f"{path} answered {statuses}")


async def _api_key(app: FastAPI, email: str) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bench") as client:
        signup = await client.post("/api/v1/auth/signup", json={"email": email, "password": "a bench password",
                                                                 "shop_name": "bench"})
        key = await client.post("/api/v1/keys", json={"name": "bench"},
                                headers={"Authorization": f"Bearer {signup.json()['token']}"})
        return key.json()["secret"]


async def route_cost(uri: str, home: Path, requests: int) -> dict:
    """Two real apps (their lifespans run, their authentication: the key remembered as in production), each with
    the same route at the same place among its routes, one plain and one through `Idempotent`."""
    settings = Settings(environment="test", secret_key="bench " * 8, mongo_uri=uri, database="bench_idempotency_app",
                        index_dir=home / "indexes", image_dir=home / "images", text_encoder=None,
                        rate_limit_per_minute=10**9, rate_limit_burst=10**9)
    apps = {"plain": create_app(settings), "idempotent": create_app(settings)}
    for name, app in apps.items():
        app.include_router(_bench_router(Idempotent if name == "idempotent" else APIRoute), prefix="/bench")
    times: dict[str, list[float]] = {name: [] for name in apps}
    async with apps["plain"].router.lifespan_context(apps["plain"]), \
            apps["idempotent"].router.lifespan_context(apps["idempotent"]):
        keys = {name: await _api_key(app, f"{name}@bench.example") for name, app in apps.items()}
        for name, app in apps.items():  # warm-up: the key and the account remembered
            for _ in range(200):
                await _post(app, "/bench/things", keys[name])
        for _ in range(requests // BLOCK):
            for name, app in apps.items():
                for _ in range(BLOCK):
                    started = time.perf_counter()
                    await _post(app, "/bench/things", keys[name])
                    times[name].append(time.perf_counter() - started)
    client = open_client(uri)
    try:
        await client.drop_database(settings.database)
    finally:
        await client.close()
    return bench.latency_figures(times)


async def database_cost(uri: str, requests: int) -> dict:
    client = open_client(uri)
    times: dict[str, list[float]] = {"new key": [], "key sent again": []}
    try:
        db = client["bench_idempotency"]
        await ensure_indexes(db)
        for n in range(requests):
            key = f"key-{n}"
            started = time.perf_counter()
            record, held = await idempotency.claim(db, "a" * 24, key, "f" * 64, LEASE_S, KEEP_S)
            await idempotency.finish(db, record["_id"], 201, b'{"id": "x"}' * 100, {"content-type": "application/json"})
            times["new key"].append(time.perf_counter() - started)
            started = time.perf_counter()
            found, held = await idempotency.claim(db, "a" * 24, key, "f" * 64, LEASE_S, KEEP_S)
            times["key sent again"].append(time.perf_counter() - started)
            if held or found["state"] != "done":
                raise RuntimeError(f"the key {key} was not found kept: {found}")
        await client.drop_database("bench_idempotency")
    finally:
        await client.close()
    return bench.latency_figures(times)


def main(argv: list[str] | None = None) -> int:
    parser = bench.parser(__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    load = bench.Load()
    with bench.database(args.mongo_uri, "idempotency") as scratch:
        result = {"without the header": asyncio.run(route_cost(scratch.uri, scratch.home, args.requests * 5)),
                  "with the header (database)": asyncio.run(database_cost(scratch.uri, args.requests))}
    result["load_average"] = load.figures()
    for part in ("without the header", "with the header (database)"):
        for name, figures in result[part].items():
            print(f"{part}, {name}: p50 {figures['p50_ms']:.3f} ms, p95 {figures['p95_ms']:.3f} ms "
                  f"over {figures['requests']} requests")
    route = result["without the header"]
    print(f"added to a create without the header: {route['idempotent']['p50_ms'] - route['plain']['p50_ms']:.4f} ms "
          f"at p50; {load.says()}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
