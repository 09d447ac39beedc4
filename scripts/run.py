"""The README's run command (`make run`): the whole service on embedded defaults, until Ctrl-C or SIGTERM.

Starts, in order: the database (nx-27017, data kept in var/mongo across restarts), TorchServe with the archives
of model_store/ (built first when missing or stale), the API (uvicorn, serving the console from web/dist when it
is built), the WooCommerce worker, and the demo gallery's first build (var/indexes/demo; later runs load it).
Prints where to open it. Stopping it stops everything it started, newest first, and waits until they are gone.

    python -m scripts.run [--port 8000] [--no-demo] [--no-worker] [--var var] [--model-store model_store]
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from handlers.archive import DEFAULT_CHECKPOINT, ROOT
from index import CatalogueStore
from kalas.stack import mongo, torchserve
from kalas.stack.service import wait_for_api
from scripts import build_archives
from scripts.demo_gallery import DEMO_CATALOGUE, demo_data, embedder_digest, needs_build


class Stop(Exception):
    """Ctrl-C or SIGTERM: time to stop everything."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def secret_key(var: Path) -> str:
    """A random signing key made on the first run and kept in var/, so image links survive restarts."""
    path = var / "secret_key"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def state_dirs_env(root: Path) -> dict[str, str]:
    """Where the API and the worker keep their files (the FAISS indexes, the stored images), under `root`."""
    return {"KALAS_INDEX_DIR": str(root / "indexes"), "KALAS_IMAGE_DIR": str(root / "images")}


def port_or_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            print(f"port {port} is taken; using a free one instead (choose one with --port)", flush=True)
    return mongo.free_port()


def spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen:
    log = (logs / f"{name}.log").open("ab")
    # Its own session: a Ctrl-C in the terminal reaches this script only, which then stops children in order.
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000, help="the API's and console's port on 127.0.0.1")
    parser.add_argument("--no-demo", action="store_true", help="do not build the demo gallery (7,700 photos)")
    parser.add_argument("--no-worker", action="store_true", help="do not start the WooCommerce worker")
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="where data, indexes and logs are kept")
    parser.add_argument("--model-store", type=Path, default=ROOT / "model_store")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="built into the model store when stale")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    var = args.var.resolve()
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    started: list[tuple[str, object]] = []
    try:
        if not build_archives.up_to_date(args.model_store, args.checkpoint):
            print("building the model archives ...", flush=True)
            build_archives.main(["--output", str(args.model_store), "--checkpoint", str(args.checkpoint)])
        database = mongo.start(var / "mongo")
        started.append(("the database", database))
        print(f"database (nx-27017) at {database.uri}, data in {database.data_dir}", flush=True)
        models = torchserve.start(args.model_store, home=var / "torchserve")
        started.append(("TorchServe", models))
        print(f"TorchServe at {models.inference_url}", flush=True)

        port = port_or_free(args.port)
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, KALAS_MONGO_URI=database.uri, KALAS_INFERENCE_URL=models.inference_url,
                   KALAS_SECRET_KEY=secret_key(var), **state_dirs_env(var))
        api = spawn("api", ["-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
                            "--port", str(port), "--no-access-log"], env, logs)
        started.append(("the API", api))
        wait_for_api(url, api, logs)
        if not args.no_worker:
            started.append(("the worker", spawn("worker", ["-m", "api.worker"], env, logs)))
        indexes = env["KALAS_INDEX_DIR"]
        reason = None if args.no_demo else needs_build(CatalogueStore(indexes), embedder_digest(args.checkpoint))
        if reason:
            # The same build as scripts/demo_gallery.py, into this run's index directory; the API loads the
            # gallery on the first search after the build has swapped it in.
            print(f"building the demo gallery from {demo_data()} in the background ({reason}; see {logs / 'demo-gallery.log'})")
            started.append(("the demo gallery build", spawn("demo-gallery", [
                "-m", "scripts.reindex", str(demo_data()), "--catalogue", DEMO_CATALOGUE, "--indexes", indexes,
                "--torchserve", models.inference_url], env, logs)))
        console = "the console" if (ROOT / "web" / "dist" / "index.html").is_file() else "the API (console not built: make web)"
        print(f"\nKalas-Iris is running: open {url}/ for {console}; API docs at {url}/api/v1/docs", flush=True)
        print(f"logs in {logs}; press Ctrl-C to stop everything\n", flush=True)
        while True:
            for name, item in started:
                if isinstance(item, subprocess.Popen) and item.poll() not in (None, 0):
                    raise RuntimeError(f"{name} exited with {item.returncode}; see {logs}")
            time.sleep(1)
    except Stop as why:
        print(f"\n{why}: stopping ...", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        for name, item in reversed(started):
            if isinstance(item, subprocess.Popen):
                mongo.stop_process(item, timeout_s=20.0)
            elif isinstance(item, torchserve.Server):
                torchserve.stop(item)
            else:
                mongo.stop(item)
            print(f"stopped {name}", flush=True)


if __name__ == "__main__":
    main()
