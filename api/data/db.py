"""Opening the database and creating every collection's indexes at start-up."""
from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from api.data import (accounts, annotations, callbacks, changes, idempotency, images, integrations, jobs, keys, limits,
                      products, reviews, sessions, shop_models)

# Each resource module declares its own indexes; start-up creates them all (idempotent on every start).
_MODULES = (accounts, sessions, keys, images, annotations, products, changes, reviews, callbacks, integrations, jobs,
            limits, shop_models, idempotency)

Database = AsyncDatabase


def open_client(uri: str) -> AsyncMongoClient:
    # tz_aware: datetimes come back as UTC-aware values, so they compare with datetime.now(timezone.utc).
    return AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000, uuidRepresentation="standard")


async def ensure_indexes(db: AsyncDatabase) -> None:
    for module in _MODULES:
        await module.ensure_indexes(db)


async def ping(db: AsyncDatabase) -> None:
    """Raise if the server does not answer (readiness checks)."""
    await db.command("ping")
