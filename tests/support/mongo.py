"""Fixtures: a real nx-27017 MongoDB-protocol server process for the session, and a fresh database per test.

The server (started by kalas/stack/mongo.py) listens on a free loopback port with its data, log and pid file in
a temporary directory, and is stopped when the session ends. Each test gets its own database name, so tests
never see each other's documents.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from pymongo import MongoClient

from kalas.stack.mongo import MongoServer, free_port, start, stop, stop_process

__all__ = ["MongoServer", "free_port", "mongo_database", "mongo_server", "start_mongo", "stop_mongo"]


def start_mongo(home: Path) -> tuple[subprocess.Popen, MongoServer]:
    """A server of a test's own (e.g. one it stops on purpose): (its process, the server)."""
    server = start(home)
    return server.process, server


def stop_mongo(process: subprocess.Popen) -> None:
    stop_process(process)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    server = start(tmp_path_factory.mktemp("nx-27017"))
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture
def mongo_database(mongo_server: MongoServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database name no other test uses; dropped afterwards."""
    name = "t_" + re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[:40] + f"_{time.monotonic_ns() % 10**9}"
    yield name
    with MongoClient(mongo_server.uri, serverSelectionTimeoutMS=2000) as client:
        client.drop_database(name)
