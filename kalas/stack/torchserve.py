"""Start and stop TorchServe so that it is ready when start returns and gone when stop returns.

TorchServe keeps one pid file at `tempfile.gettempdir()/.model_server.pid` (ts/model_server.py), puts its
worker sockets and unpacked archives under java.io.tmpdir (from $TEMP) and its logs under $LOG_LOCATION.
Each instance here gets its own directory for all three, and free loopback ports, so several servers (one
per test session, per engineer) run side by side. `torchserve --stop` returns before the JVM exits, so
stopping is done here: terminate the JVM, wait, then make sure none of the process group is left.

`python -m scripts.torchserve start|stop` runs one from a shell.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config.properties"
LOG_CONFIG = ROOT / "log4j2.xml"
# The workers' OpenMP, set unless the caller's environment sets it (workers inherit it from the JVM; it must be
# there before torch is imported):
# - one thread per worker: config.properties runs a worker per core for each model instead. On this 2-core
#   machine a lone photo took 2.6-3 ms less that way and a burst to one model ran 18-50% faster, while a burst
#   to both models ran as before (docs/benchmarks.md, "Workers and threads");
# - PASSIVE waiting, for whoever raises the thread count again: spinning OpenMP threads turn a busy 2-core
#   machine pathological (Lite0 on one image took 1.7-4.9 s with torch's default 2 spinning threads, 67 ms
#   with PASSIVE).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
PORT_KEYS = ("inference_address", "management_address", "metrics_address", "grpc_inference_port", "grpc_management_port")


@dataclass
class Server:
    """A running TorchServe: its URLs, its launcher's process group and the directory holding its state."""

    inference_url: str
    management_url: str
    metrics_url: str
    home: str
    pgid: int

    def models(self) -> list[str]:
        response = httpx.get(f"{self.management_url}/models", headers=self.headers("management"), timeout=10)
        return [m["modelName"] for m in response.json()["models"]]

    def headers(self, kind: str) -> dict[str, str]:
        """The `kind` key when token authorization is on (config.production.properties): TorchServe writes
        key_file.json into its working directory, this instance's home."""
        from api.clients.inference import InferenceError, torchserve_key

        key_file = Path(self.home) / "key_file.json"
        try:
            return {"Authorization": f"Bearer {torchserve_key(key_file, kind)}"} if key_file.is_file() else {}
        except InferenceError:  # being written at start: the request is refused and asked again
            return {}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def instance_config(source: Path, home: Path, model_store: Path, ports: list[int]) -> Path:
    """The shipped config with this instance's ports and model store (other settings untouched)."""
    text = source.read_text()
    inference, management, metrics, grpc_inference, grpc_management = ports
    values = {
        "inference_address": f"http://127.0.0.1:{inference}",
        "management_address": f"http://127.0.0.1:{management}",
        "metrics_address": f"http://127.0.0.1:{metrics}",
        "grpc_inference_port": str(grpc_inference),
        "grpc_management_port": str(grpc_management),
        "model_store": str(model_store),
    }
    for key, value in values.items():
        text, found = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text)
        if not found:
            text += f"\n{key}={value}\n"
    path = home / "config.properties"
    path.write_text(text)
    return path


def start(model_store: Path, *, config: Path = CONFIG, home: Path | None = None, timeout: float = 180.0) -> Server:
    """Start TorchServe on free loopback ports and return once every model in the config answers."""
    model_store = Path(model_store).resolve()
    home = Path(home or tempfile.mkdtemp(prefix="kalas-torchserve-")).resolve()
    for sub in ("tmp", "logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    ports = free_ports(len(PORT_KEYS))
    config_file = instance_config(Path(config), home, model_store, ports)
    env = dict(os.environ, TMPDIR=str(home / "tmp"), TEMP=str(home / "tmp"), LOG_LOCATION=str(home / "logs"),
               METRICS_LOCATION=str(home / "logs"))
    env = {**WORKER_ENV, **env}
    command = [str(Path(sys.executable).with_name("torchserve")), "--start", "--foreground", "--ncs",
               "--model-store", str(model_store), "--ts-config", str(config_file), "--log-config", str(LOG_CONFIG)]
    with open(home / "logs" / "launcher.log", "ab") as log:
        launcher = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    server = Server(f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", f"http://127.0.0.1:{ports[2]}",
                    str(home), launcher.pid)
    try:
        _wait_until_ready(server, launcher, _expected_models(config_file), timeout)
    except BaseException:
        stop(server)
        raise
    return server


def _expected_models(config_file: Path) -> list[str]:
    match = re.search(r"(?m)^load_models=(.*)$", config_file.read_text())
    names = match.group(1).split(",") if match else []
    return [name.strip().removesuffix(".mar") for name in names if name.strip()]


def _wait_until_ready(server: Server, launcher: subprocess.Popen, models: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            raise RuntimeError(f"TorchServe exited with code {launcher.returncode} at start; see {server.home}/logs")
        try:
            ready = all(_model_ready(server, name) for name in models)
            ping = httpx.get(f"{server.inference_url}/ping", headers=server.headers("inference"), timeout=5) if ready else None
            if ping is not None and ping.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"TorchServe was not ready within {timeout:.0f} s; see {server.home}/logs/model_log.log")


def _model_ready(server: Server, name: str) -> bool:
    response = httpx.get(f"{server.management_url}/models/{name}", headers=server.headers("management"), timeout=5)
    if response.status_code == 404:
        # The archives are registered before the HTTP ports open: a model missing now failed to load.
        raise RuntimeError(f"TorchServe could not load {name}; see {server.home}/logs/ts_log.log")
    if response.status_code != 200:
        return False
    workers = response.json()[0]["workers"]
    return bool(workers) and all(worker["status"] == "READY" for worker in workers)


def stop(server: Server, timeout: float = 60.0) -> None:
    """Stop the JVM and its workers and wait until not one process of this instance is left."""
    try:
        members = [p for p in psutil.process_iter() if in_group(p, server.pgid)]
    except psutil.Error:
        members = []
    for process in members:  # SIGTERM lets the JVM's shutdown hook stop its workers
        try:
            if "java" in process.name():
                process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(members, timeout=timeout)
    if alive:
        os.killpg(server.pgid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)


def in_group(process: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(process.pid) == pgid
    except (ProcessLookupError, PermissionError):
        return False
