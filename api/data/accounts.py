"""Accounts: one per shop (the tenant). E-mail addresses are unique, compared in lower case."""
from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from api.core.security import new_id
from api.data.common import now, stamped


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.accounts.create_index([("email", ASCENDING)], unique=True)


async def create(db: AsyncDatabase, email: str, shop_name: str, password_hash: str) -> dict | None:
    """The new account, or None when the e-mail is already taken."""
    account = {"_id": new_id(), "email": email.lower(), "shop_name": shop_name,
               "password_hash": password_hash, "created": now()}
    try:
        await db.accounts.insert_one(account)
    except DuplicateKeyError:
        return None
    return account


async def by_email(db: AsyncDatabase, email: str) -> dict | None:
    return await db.accounts.find_one({"email": email.lower()})


async def by_id(db: AsyncDatabase, account_id: str) -> dict | None:
    return await db.accounts.find_one({"_id": account_id})


async def mark_leaving(db: AsyncDatabase, account_id: str) -> None:
    """The shop's deletion has begun: from now on nothing new is kept for it (`open_for_writes`)."""
    await db.accounts.update_one({"_id": account_id}, stamped(None, "leaving"))


async def open_for_writes(db: AsyncDatabase, account_id: str) -> bool:
    """False once the shop is deleted or its deletion has begun. A create that runs long (photos fetched, the models
    asked) asks after it has written, and takes back what it wrote: a deletion that began meanwhile swept what it
    found, and would leave behind what came after."""
    found = await db.accounts.find_one({"_id": account_id}, {"leaving": 1})
    return found is not None and "leaving" not in found
