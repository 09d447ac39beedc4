"""Put a new model version into service in a running TorchServe, without downtime.

    python -m scripts.register_model register fashion-attributes-1.1.mar [--check-image photo.jpg]
    python -m scripts.register_model switch fashion-attributes 1.0      # back to a version still registered
    python -m scripts.register_model list fashion-attributes
    python -m scripts.register_model rotate-key inference                # or management

`register` loads the archive (already in TorchServe's model store: production allows nothing else) as a new
version beside the serving one, with the serving version's batching and worker settings, waits until its workers
are ready, optionally answers one photo with it, and only then makes it the default. The API always asks for the
default version, so the switch is one atomic step inside TorchServe: requests already queued finish on the old
version, the next ones go to the new one, and each annotation records the version that answered it. The old
version stays registered (for `switch` back) unless `--retire-old` is given.

With token authorization on (production), the management and inference keys are read from TorchServe's
key_file.json (`--key-file`; by default the one in the current directory, TorchServe's working directory).
Keys expire (`token_expiration_min`): `rotate-key` has TorchServe write a new one to that file, and the API and
the worker take it up at their next request.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.clients.inference import InferenceError, torchserve_key

# What a new version inherits from the serving one (the management API's description -> registration parameters).
READY_WITHIN_S = 60.0
INHERITED = {"batchSize": "batch_size", "maxBatchDelay": "max_batch_delay", "responseTimeout": "response_timeout"}


class RegistrationError(RuntimeError):
    """A step failed; the message says which and what TorchServe answered. Nothing was switched."""


@dataclass(frozen=True)
class Archive:
    path: Path
    name: str
    version: str


def read_archive(path: Path) -> Archive:
    """The model name and version recorded in a .mar's manifest (what TorchServe will register it as)."""
    try:
        with zipfile.ZipFile(path) as mar:
            manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as error:
        raise RegistrationError(f"{path} is not a model archive with a manifest: {error}") from None
    model = manifest["model"]
    return Archive(path, model["modelName"], str(model.get("modelVersion", "1.0")))


class TorchServeAdmin:
    """The management API (and, for the check, the inference API) of one TorchServe."""

    def __init__(self, management_url: str, inference_url: str | None = None, key_file: Path | None = None,
                 timeout: float = 300.0) -> None:
        self.key_file = key_file
        self.management = httpx.Client(base_url=management_url.rstrip("/"), timeout=timeout)
        self.inference = httpx.Client(base_url=inference_url.rstrip("/"), timeout=60) if inference_url else None

    def _headers(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {torchserve_key(self.key_file, kind)}"} if self.key_file else {}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.management.request(method, path, headers=self._headers("management"), **kwargs)
        if response.status_code >= 300:
            raise RegistrationError(f"{method} {path}: TorchServe answered {response.status_code}: {response.text.strip()}")
        return response.json()

    def versions(self, name: str) -> list[dict]:
        return self._call("GET", f"/models/{name}/all")

    def default(self, name: str) -> dict:
        return self._call("GET", f"/models/{name}")[0]

    def register(self, archive: Archive, like: dict) -> None:
        params = {"url": archive.path.name, "model_name": archive.name, "synchronous": "true",
                  "initial_workers": max(1, like.get("minWorkers", 1))}
        params |= {param: like[field] for field, param in INHERITED.items() if field in like}
        self._call("POST", "/models", params=params)
        # Synchronous registration answers once the workers started; on a busy host one may still be restarted
        # (seen in CI: READY + UNLOADING). Give them READY_WITHIN_S before calling the archive broken.
        deadline = time.monotonic() + READY_WITHIN_S
        while True:
            workers = self._call("GET", f"/models/{archive.name}/{archive.version}")[0]["workers"]
            if workers and all(worker["status"] == "READY" for worker in workers):
                break
            if time.monotonic() > deadline:
                raise RegistrationError(f"{archive.name} {archive.version} registered but its workers are not ready "
                                        f"after {READY_WITHIN_S:.0f} s: {workers}")
            time.sleep(1.0)
        if like.get("maxWorkers", 0) > len(workers):
            self._call("PUT", f"/models/{archive.name}/{archive.version}",
                       params={"min_worker": like["minWorkers"], "max_worker": like["maxWorkers"], "synchronous": "true"})

    def check(self, archive: Archive, image: Path) -> dict:
        if self.inference is None:
            raise RegistrationError("--check-image needs --inference-url")
        response = self.inference.post(f"/predictions/{archive.name}/{archive.version}", content=image.read_bytes(),
                                       headers=self._headers("inference"))
        if response.status_code != 200:
            raise RegistrationError(f"{archive.name} {archive.version} failed on {image}: {response.status_code} {response.text}")
        return response.json()

    def switch(self, name: str, version: str) -> None:
        self._call("PUT", f"/models/{name}/{version}/set-default")

    def retire(self, name: str, version: str) -> None:
        self._call("DELETE", f"/models/{name}/{version}")

    def rotate_key(self, kind: str) -> None:
        response = self.management.post("/token", params={"type": kind}, headers=self._headers("API"))
        if response.status_code != 200:
            raise RegistrationError(f"rotating the {kind} key: TorchServe answered {response.status_code}: {response.text}")


def register(admin: TorchServeAdmin, archive: Archive, check_image: Path | None = None,
             retire_old: bool = False) -> str:
    """Register `archive` beside the serving version and make it the default; returns the version it replaced."""
    serving = admin.default(archive.name)
    if any(v["modelVersion"] == archive.version for v in admin.versions(archive.name)):
        raise RegistrationError(f"{archive.name} {archive.version} is already registered: use `switch` to serve it")
    admin.register(archive, like=serving)
    if check_image is not None:
        answer = admin.check(archive, check_image)
        print(f"checked {archive.name} {archive.version} on {check_image.name}: {json.dumps(answer)[:200]}")
    admin.switch(archive.name, archive.version)
    if retire_old:
        admin.retire(archive.name, serving["modelVersion"])
    return serving["modelVersion"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--management-url", default="http://127.0.0.1:8081")
    parser.add_argument("--inference-url", default="http://127.0.0.1:8080", help="for --check-image")
    parser.add_argument("--key-file", type=Path, help="TorchServe's key_file.json (default: ./key_file.json if present)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("register", help="register an archive as a new version and make it the default")
    add.add_argument("archive", type=Path, help="a .mar in TorchServe's model store")
    add.add_argument("--check-image", type=Path, help="a photo the new version must answer before the switch")
    add.add_argument("--retire-old", action="store_true", help="unregister the version it replaces")
    switch = commands.add_parser("switch", help="make a registered version the default (e.g. roll back)")
    switch.add_argument("name")
    switch.add_argument("version")
    listing = commands.add_parser("list", help="the registered versions of a model")
    listing.add_argument("name")
    rotate = commands.add_parser("rotate-key", help="have TorchServe replace a key in its key file")
    rotate.add_argument("kind", choices=["inference", "management"])
    args = parser.parse_args(argv)

    key_file = args.key_file or (Path("key_file.json") if Path("key_file.json").is_file() else None)
    admin = TorchServeAdmin(args.management_url, args.inference_url, key_file)
    try:
        if args.command == "register":
            archive = read_archive(args.archive)
            old = register(admin, archive, args.check_image, args.retire_old)
            print(f"{archive.name}: now serving {archive.version} (was {old})")
        elif args.command == "switch":
            admin.switch(args.name, args.version)
            print(f"{args.name}: now serving {args.version}")
        elif args.command == "rotate-key":
            if key_file is None:
                raise RegistrationError("rotate-key needs TorchServe's key file (--key-file)")
            admin.rotate_key(args.kind)
            print(f"new {args.kind} key written to {key_file}")
        else:
            default = admin.default(args.name)["modelVersion"]
            for version in admin.versions(args.name):
                mark = "*" if version["modelVersion"] == default else " "
                print(f"{mark} {version['modelVersion']}  {version['modelUrl']}  workers={len(version['workers'])}")
    except (RegistrationError, InferenceError, httpx.HTTPError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
