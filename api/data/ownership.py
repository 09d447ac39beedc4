"""Everything a shop owns in the database, found from its account id: for its export and for its deletion.

Most collections carry the shop's id in `account`; a few hang off its integrations or jobs. A new collection of
a shop's documents belongs in OWNED_BY_ACCOUNT (or below), or deleting an account would leave it behind — the
deletion test counts every collection.
"""
from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

OWNED_BY_ACCOUNT = ("annotations", "images", "reviews", "products", "api_keys", "sessions", "integrations",
                    "former_integrations", "jobs", "callbacks", "deliveries", "shop_models", "catalogue_changes",
                    "idempotency_keys")
# What an export leaves out: secrets (sealed or hashed) and the vectors (the model's, remade from the photos).
PRIVATE_FIELDS = {"api_keys": ("_id",),
                  "integrations": ("consumer_key", "consumer_secret", "webhook_secret", "previous_webhook_secret"),
                  "callbacks": ("secret",), "products": ("embeddings", "signals"),
                  "shop_models": ("arrays",), "accounts": ("password_hash",)}


async def _queries(db: AsyncDatabase, account_id: str) -> dict[str, dict[str, Any]]:
    """Per collection, the query that finds the shop's documents in it."""
    integration_ids = [i["_id"] for name in ("integrations", "former_integrations")
                       async for i in db[name].find({"account": account_id}, {"_id": 1})]
    job_ids = [j["_id"] async for j in db.jobs.find({"account": account_id}, {"_id": 1})]
    return {"accounts": {"_id": account_id}, **{name: {"account": account_id} for name in OWNED_BY_ACCOUNT},
            "job_steps": {"job": {"$in": job_ids}}, "webhook_deliveries": {"integration": {"$in": integration_ids}},
            "store_writes": {"integration": {"$in": integration_ids}}, "reembedding": {"_id": account_id},
            "catalogue_seq": {"_id": account_id}}


async def counts(db: AsyncDatabase, account_id: str) -> dict[str, int]:
    return {name: await db[name].count_documents(query) for name, query in (await _queries(db, account_id)).items()}


async def documents(db: AsyncDatabase, account_id: str, exported: tuple[str, ...]) -> dict[str, list[dict]]:
    """The shop's documents of the `exported` collections, without their private fields."""
    queries = await _queries(db, account_id)
    found = {}
    for name in exported:
        hidden = {field: 0 for field in PRIVATE_FIELDS.get(name, ())}
        found[name] = await db[name].find(queries[name], hidden or None).to_list(length=None)
    return found


async def delete_all(db: AsyncDatabase, account_id: str) -> dict[str, int]:
    """Delete every document the shop owns; the account itself last, so a cut-off deletion can be run again."""
    queries = await _queries(db, account_id)
    deleted = {name: (await db[name].delete_many(query)).deleted_count
               for name, query in queries.items() if name != "accounts"}
    deleted["accounts"] = (await db.accounts.delete_many(queries["accounts"])).deleted_count
    return deleted
