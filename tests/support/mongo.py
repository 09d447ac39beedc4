"""Fixtures: a real nx-27017 MongoDB-protocol server process for the session, and a fresh database per test.

The server listens on a free loopback port with its data, log and pid file in a temporary directory (its
defaults are fixed paths under /tmp that would collide with other servers on the machine), and is stopped
when the session ends. Each test gets its own database name, so tests never see each other's documents.
"""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from pymongo import MongoClient

NX_27017 = Path(sys.executable).with_name("nx-27017")


@dataclass(frozen=True)
class MongoServer:
    uri: str
    port: int
    data_dir: Path
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mongo(home: Path, timeout_s: float = 30.0) -> tuple[subprocess.Popen, MongoServer]:
    """Start nx-27017 with everything under `home`; return once it answers a ping."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = MongoServer(f"mongodb://127.0.0.1:{port}", port, home / "data", home / "nx-27017.log")
    server.data_dir.mkdir(exist_ok=True)
    with server.log.open("ab") as log:
        process = subprocess.Popen(
            [str(NX_27017), "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(server.data_dir),
             "--log-file", str(server.log), "--pid-file", str(home / "nx-27017.pid")],
            stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nx-27017 exited with {process.returncode}; see {server.log}")
        try:
            with MongoClient(server.uri, serverSelectionTimeoutMS=300) as client:
                client.admin.command("ping")
            return process, server
        except Exception:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"nx-27017 did not answer within {timeout_s:.0f} s; see {server.log}") from None
            time.sleep(0.1)


def stop_mongo(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    process, server = start_mongo(tmp_path_factory.mktemp("nx-27017"))
    try:
        yield server
    finally:
        stop_mongo(process)


@pytest.fixture
def mongo_database(mongo_server: MongoServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database name no other test uses; dropped afterwards."""
    name = "t_" + re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[:40] + f"_{time.monotonic_ns() % 10**9}"
    yield name
    with MongoClient(mongo_server.uri, serverSelectionTimeoutMS=2000) as client:
        client.drop_database(name)
