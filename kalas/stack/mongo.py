"""The embedded MongoDB-protocol server (nx-27017), started so that it is answering when `start` returns.

nx-27017's own defaults put its pid file and log at fixed paths under /tmp, which would collide between
instances; here everything (data, log, pid file) lives under one directory of the caller's choosing and the
port is free on loopback, so the run command, the benchmark and each test session get their own server.

It runs threaded, without a log line per command (`NX_SERVER`). nx-27017's default server reads commands on an
asyncio loop and hands each to a worker thread and back (`asyncio.to_thread`): three threads to wake per command.
After the database has sat idle, as it does for the ~28 ms the model takes to answer an annotate request, each
wake-up starts on a cold core, and the write that follows the model's answer waits for all three. Its threaded
server (`--threaded`) reads, runs and answers a command on the connection's own thread, the same handler code under
the same locks. Measured on the 2-core machine (docs/benchmarks.md): a ping after 28 ms idle 0.74–0.84 ms against
1.14–1.19 ms, a small insert 1.08–1.15 ms against 1.41–1.56 ms.

The threaded server logs every command at INFO (about 220 bytes a command, to its log file and to stderr),
which would grow the log without bound, so nx-27017's own logger is set to WARNING; the SQLite layer's
warnings and nx-27017's errors still reach the log.

`python -m scripts.mongo` runs one in the foreground.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pymongo import MongoClient

# The server's process: nx-27017's threaded server with its logger at WARNING, run as `python -c NX_SERVER ARGS`
# (ARGS: nx-27017's own options). It imports nothing of this project, so it starts from any working directory.
NX_SERVER = """
import logging
import sys

from nx_27017.nx_27017 import main

logging.getLogger("nx_27017").setLevel(logging.WARNING)
sys.argv = ["nx-27017", "--threaded", *sys.argv[1:]]
main()
"""


@dataclass(frozen=True)
class MongoServer:
    uri: str
    port: int
    data_dir: Path
    log: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(home: Path, *, port: int | None = None, timeout_s: float = 30.0) -> MongoServer:
    """nx-27017 with its data in `home/data` (kept across restarts); returns once it answers a ping."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    data_dir, log_path = home / "data", home / "nx-27017.log"
    data_dir.mkdir(exist_ok=True)
    with log_path.open("ab") as log:  # its warnings and errors go to the log, not the terminal
        process = subprocess.Popen(
            [sys.executable, "-c", NX_SERVER, "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
             "--log-file", str(log_path), "--pid-file", str(home / "nx-27017.pid")],
            stdout=log, stderr=subprocess.STDOUT,
        )
    server = MongoServer(f"mongodb://127.0.0.1:{port}", port, data_dir, log_path, process)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nx-27017 exited with {process.returncode}; see {log_path}")
        try:
            with MongoClient(server.uri, serverSelectionTimeoutMS=300) as client:
                client.admin.command("ping")
            return server
        except Exception:
            if time.monotonic() > deadline:
                stop(server)
                raise RuntimeError(f"nx-27017 did not answer within {timeout_s:.0f} s; see {log_path}") from None
            time.sleep(0.1)


def stop(server: MongoServer) -> None:
    stop_process(server.process)


@contextmanager
def given_or_fresh(uri: str | None, home: Path) -> Iterator[str]:
    """The server at `uri`; when none is given, a fresh nx-27017 with its data in `home`, stopped afterwards (how the
    benchmarks read `--mongo-uri`)."""
    if uri:
        yield uri
        return
    server = start(home)
    try:
        yield server.uri
    finally:
        stop(server)


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout_s`; returns once the process is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)
