"""Start and stop the embedded MongoDB-protocol server (nx-27017) so it is answering when start returns.

nx-27017's own defaults put its pid file and log at fixed paths under /tmp, which would collide between
instances; here everything (data, log, pid file) lives under one directory of the caller's choosing and the
port is free on loopback, so the run command, the benchmark and each test session get their own server.
It is started through scripts/nx_server.py: threaded, without a log line per command.

    python -m scripts.mongo --home var/mongo      # runs in the foreground until Ctrl-C
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient

NX_SERVER = Path(__file__).with_name("nx_server.py")


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
            [sys.executable, str(NX_SERVER), "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("var/mongo"))
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    server = start(args.home, port=args.port)
    print(f"nx-27017 at {server.uri} (data in {server.data_dir}); Ctrl-C stops it", flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        stop(server)


if __name__ == "__main__":
    main()
