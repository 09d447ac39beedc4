"""The run command starts the whole service, keeps the data across restarts, and leaves nothing behind on SIGTERM."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.mongo import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def start(var: Path, model_store: Path, port: int) -> tuple[subprocess.Popen, str]:
    run = subprocess.Popen([sys.executable, "-m", "scripts.run", "--var", str(var), "--model-store", str(model_store),
                            "--port", str(port), "--no-demo"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = run.stdout.readline()
        lines.append(line)
        if match := re.search(r"open (http://127\.0\.0\.1:\d+)/", line):
            return run, match.group(1)
        if not line and run.poll() is not None:
            break
    run.kill()
    raise AssertionError("the service did not start:\n" + "".join(lines))


def stop(run: subprocess.Popen) -> str:
    family = run and psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGTERM)
    output = run.communicate(timeout=120)[0]
    assert run.returncode == 0, output
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left running: {[p.info if hasattr(p, 'info') else p for p in alive]}"
    return output


def test_the_service_runs_restarts_with_its_data_and_stops_everything(tmp_path, model_store):
    var, port = tmp_path / "var", free_port()
    run, url = start(var, model_store, port)
    try:
        assert httpx.get(f"{url}/api/v1/docs").status_code == 200
        signup = httpx.post(f"{url}/api/v1/auth/signup", json={
            "email": "owner@run.example", "password": "a long enough password", "shop_name": "run"})
        assert signup.status_code == 201, signup.text
        models = httpx.get(f"{url}/readyz", timeout=30)
        assert models.status_code == 200, models.text
    finally:
        output = stop(run)
    for part in ("stopped the worker", "stopped the API", "stopped TorchServe", "stopped the database"):
        assert part in output

    run, url = start(var, model_store, port)
    try:
        login = httpx.post(f"{url}/api/v1/auth/login", json={"email": "owner@run.example", "password": "a long enough password"})
        assert login.status_code == 200, login.text  # the database kept the account across the restart
    finally:
        stop(run)
