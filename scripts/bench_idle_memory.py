"""Resident memory of an idle API process, for one or more checkouts measured side by side.

    python -m scripts.bench_idle_memory [--tree DIR ...] [--runs 2]

Each tree's API (uvicorn, `api.main:create_app`, reaching the models over HTTP as in production) is started
against one nx-27017, asked for `/healthz`, left idle 3 s and measured (psutil's RSS), then stopped; trees are
alternated. A tree is a checkout of this project (another commit: `git worktree add DIR COMMIT`); by default,
this one. Prints whether torch was mapped into the process.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from kalas.stack import mongo
from kalas.stack.mongo import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]


def idle_rss(tree: Path, mongo_uri: str, scratch: Path) -> tuple[float, bool]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAS_")} | {
        "KALAS_MONGO_URI": mongo_uri, "KALAS_DATABASE": "idle_memory", "PYTHONPATH": str(tree),
        "KALAS_INFERENCE_URL": "http://127.0.0.1:9",  # never called while idle
        "KALAS_INDEX_DIR": str(scratch / "indexes"), "KALAS_IMAGE_DIR": str(scratch / "images")}
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--port", str(port),
                            "--log-level", "warning"], cwd=tree, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or api.poll() is not None:
                    raise RuntimeError(f"the API of {tree} did not start") from None
                time.sleep(0.3)
        time.sleep(3)
        process = psutil.Process(api.pid)
        return process.memory_info().rss / 2**20, any("libtorch" in m.path for m in process.memory_maps())
    finally:
        stop_process(api)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_idle_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append", help="a checkout to measure (repeatable)")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    trees = [tree.resolve() for tree in args.tree or [ROOT]]
    with tempfile.TemporaryDirectory(prefix="kalas-idle-") as scratch:
        server = mongo.start(Path(scratch) / "mongo")
        try:
            for run in range(args.runs):
                for tree in trees:
                    rss, torch = idle_rss(tree, server.uri, Path(scratch))
                    print(f"{tree}: idle RSS {rss:.1f} MiB, torch loaded: {torch} (run {run + 1})", flush=True)
        finally:
            mongo.stop(server)
    print(f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
