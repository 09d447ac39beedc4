"""Start/stop of TorchServe: ready when start returns, nothing left when stop returns, instances side by side."""
from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

from kalas.stack import torchserve as ts

pytestmark = pytest.mark.slow


def _group(pgid: int) -> list[psutil.Process]:
    alive = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and ts.os.getpgid(process.pid) == pgid:
                alive.append(process)
        except (psutil.Error, ProcessLookupError):
            pass
    return alive


def test_a_second_instance_runs_beside_the_first_and_stops_without_leftovers(torchserve, model_store, tmp_path: Path):
    second = ts.start(model_store, home=tmp_path / "second")
    try:
        assert second.inference_url != torchserve.inference_url
        assert sorted(second.models()) == ["fashion-attributes", "fashion-embedder"]
        names = {p.name() for p in _group(second.pgid)}
        assert "java" in names  # the frontend, plus its Python workers
        assert httpx.get(f"{second.inference_url}/ping", timeout=5).json()["status"] == "Healthy"
        # each instance keeps its pid file and worker sockets in its own temporary directory
        assert (tmp_path / "second" / "tmp" / ".model_server.pid").is_file()
        assert list((tmp_path / "second" / "tmp").glob(".ts.sock.*"))
    finally:
        ts.stop(second)
    assert _group(second.pgid) == []
    assert httpx.get(f"{torchserve.inference_url}/ping", timeout=5).status_code == 200  # the first one still serves


def test_each_model_has_two_workers_each_running_torch_on_one_thread(torchserve):
    workers = {model: httpx.get(f"{torchserve.management_url}/models/{model}", timeout=10).json()[0]["workers"]
               for model in torchserve.models()}
    assert {model: len(found) for model, found in workers.items()} == {"fashion-attributes": 2, "fashion-embedder": 2}
    for found in workers.values():
        for worker in found:
            process = psutil.Process(worker["pid"])
            # one thread unless the environment running the tests asks for another count (WORKER_ENV yields to it)
            wanted = ts.os.environ.get("OMP_NUM_THREADS", ts.WORKER_ENV["OMP_NUM_THREADS"])
            assert process.environ()["OMP_NUM_THREADS"] == wanted, process.cmdline()
            if wanted == "1":
                assert process.num_threads() <= 2, process.cmdline()


def test_the_instance_config_keeps_the_shipped_settings_and_replaces_the_ports(tmp_path: Path):
    config = ts.instance_config(ts.CONFIG, tmp_path, tmp_path / "store", [1001, 1002, 1003, 1004, 1005]).read_text()
    assert "inference_address=http://127.0.0.1:1001" in config
    assert "grpc_management_port=1005" in config and "model_store=" in config
    assert "disable_token_authorization=true" in config and '"batchSize": 8' in config
    assert ":8080" not in config and "7070" not in config


def test_a_broken_model_store_fails_start_clearly_and_leaves_nothing(tmp_path: Path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "fashion-attributes.mar").write_bytes(b"not a zip")
    with pytest.raises((RuntimeError, TimeoutError)) as caught:
        ts.start(tmp_path / "store", home=tmp_path / "home", timeout=60)
    assert "logs" in str(caught.value)
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "home") in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
