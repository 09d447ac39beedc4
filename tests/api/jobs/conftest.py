"""The jobs' tests name their shop by an id of the API's form ("a1b2c3") instead of signing one up: its account
document is made here, as signing up would, so that what the jobs store is kept (a create finds its shop's account
before keeping what it made: api/data/accounts.py `open_for_writes`)."""
from __future__ import annotations

import pytest
from pymongo import MongoClient

SHOPS = ("a1b2c3",)


@pytest.fixture(autouse=True)
def shops_signed_up(request: pytest.FixtureRequest) -> None:
    if "mongo_database" not in request.fixturenames:
        return
    server, database = request.getfixturevalue("mongo_server"), request.getfixturevalue("mongo_database")
    with MongoClient(server.uri) as client:
        client[database].accounts.insert_many([{"_id": shop, "email": f"{shop}@shops.example"} for shop in SHOPS])
