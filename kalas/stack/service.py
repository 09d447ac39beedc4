"""The service as it runs: the API (uvicorn) and the worker (`python -m api.worker`) as real processes.

Both read the same KALAS_* environment, as `make run` and compose start them, so a test can kill the worker
mid-job or restart the API between a delivery and its work, and see what survives; the webhook benchmark and the
load run start the service the same way.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kalas.stack.mongo import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
SECRET = "integration-tests-secret-key-0123456789abcdef"


@dataclass
class Service:
    env: dict[str, str]
    logs: Path
    api_port: int = field(default_factory=free_port)
    api: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    _started: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env | (env or {}), stdout=log,
                                stderr=subprocess.STDOUT)

    def start_api(self, timeout_s: float = 60.0) -> None:
        self.api = self._spawn("api", ["-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
                                       "--port", str(self.api_port), "--log-level", "warning"])
        wait_for_api(self.url, self.api, self.logs, timeout_s)

    def stop_api(self) -> None:
        if self.api is not None:
            stop_process(self.api)
            self.api = None

    def start_worker(self, *args: str, timeout_s: float = 60.0, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A worker process, returned once it says it is claiming jobs; `env`: its own KALAS_* settings beside the
        service's."""
        name = f"worker-{self._started}"
        self._started += 1
        worker = self._spawn(name, ["-m", "api.worker", *args], env)
        self.workers.append(worker)
        log, deadline = self.logs / f"{name}.log", time.monotonic() + timeout_s
        while b"worker started" not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start (exit {worker.poll()}); see {log}")
            time.sleep(0.1)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """SIGKILL: no clean-up, no lease given back, as when a machine dies."""
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    def stop(self) -> None:
        for worker in self.workers:
            stop_process(worker)
        self.workers.clear()
        self.stop_api()


def wait_for_api(url: str, api: subprocess.Popen, logs: Path, timeout_s: float = 120.0) -> None:
    """Returns once the API at `url` answers /healthz; RuntimeError naming its log if it exits or stays silent."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise RuntimeError(f"the API exited with {api.returncode}; see {logs / 'api.log'}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not answer within {timeout_s:.0f} s; see {logs / 'api.log'}")


def image_dir_beside(index_dir: Path) -> Path:
    """The image directory of a test's service: beside its index directory, in the test's own space."""
    return index_dir.with_name(index_dir.name + "-images")


def service_env(mongo_uri: str, database: str, index_dir: Path, allow_origins: list[str],
                inference_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAS_")}
    return env | {"KALAS_ENVIRONMENT": "test", "KALAS_SECRET_KEY": SECRET, "KALAS_MONGO_URI": mongo_uri,
                  "KALAS_DATABASE": database, "KALAS_INDEX_DIR": str(index_dir),
                  "KALAS_IMAGE_DIR": str(image_dir_beside(index_dir)),
                  "KALAS_FETCH_ALLOW_ORIGINS": ",".join(allow_origins), "KALAS_INFERENCE_URL": inference_url,
                  "PYTHONUNBUFFERED": "1"}
