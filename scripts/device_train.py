"""On the GPU machine: unpack the kit parts a call carried, and once every part has come, train, leaving the
checkpoint and the log under $OUT (docs/model_card.md, "Device run").

    python3 -m scripts.device_train [--epochs 30] [--workers 12] [--device cuda] [-- MORE TRAIN ARGUMENTS]

Each call of the device tool carries one part of the kit (scripts/device_kit.py, `.kit/part-K/`): this unpacks it
into `--into` (/tmp/kit, which stays while the machine is held), checks its photos.zip against its manifest, and
installs the wheels it brings there. While parts are missing it says which and stops; the call that brings the
last one trains with the project's own command (`python -m scripts.train ... --tune-from 0 --device cuda`, the
shipped model's settings, docs/model_card.md "How it was trained"; anything after `--` is added to it). $OUT then
holds train.log, summary.json (the validation figures per epoch on the kit's copies, the seconds) and the
checkpoint as checkpoint.tar.part-NN pieces of at most 15 MiB (the tool brings back files of at most 16 MiB);
on this machine `cat checkpoint.tar.part-* | tar -x -C DIR` gives DIR/heads.pt, meta.json, labels.json and
provenance.json, and summary.json's `checkpoint_tar_sha256` checks the pieces.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIECE = 15 * 2**20
# The shipped checkpoint's training settings (docs/model_card.md, "How it was trained"), the workers sized for the
# machine's 16 cores.
TRAIN_SETTINGS = ["--tune-from", "0", "--batch-size", "128", "--lr", "2e-3", "--colour-weight", "0.3",
                  "--colour-head-weight", "1.0", "--label-smoothing", "0.1", "--no-progress"]


def unpack(kit: Path, into: Path) -> dict[int, dict]:
    """Unpack every part under `kit` into `into` (photos under data/, wheels installed in site/); returns the
    manifests of all the parts received so far, this call's and earlier calls', by part number."""
    received = into / "received"
    received.mkdir(parents=True, exist_ok=True)
    for manifest_path in sorted(kit.glob("part-*/manifest.json")):
        part, manifest = manifest_path.parent, json.loads(manifest_path.read_text())
        marker = received / f"part-{manifest['part']}.json"
        if marker.is_file() and json.loads(marker.read_text()) == manifest:
            continue  # a part an earlier call brought, still in the checkout there
        photos = (part / "photos.zip").read_bytes()
        if hashlib.sha256(photos).hexdigest() != manifest["photos_zip_sha256"]:
            raise SystemExit(f"{part}/photos.zip does not match its manifest: build the kit again")
        with zipfile.ZipFile(io.BytesIO(photos)) as archive:
            archive.extractall(into)
        wheels = sorted(str(w) for w in (part / "wheels").glob("*.whl"))
        if wheels:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                            "--no-cache-dir", "--upgrade", "--target", str(into / "site"), *wheels], check=True)
        marker.write_text(json.dumps(manifest))
        print(f"unpacked {part.name}: {manifest['files']} files, wheels {manifest['wheels'] or 'none'}", flush=True)
    return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in received.glob("part-*.json")}


def missing_parts(manifests: dict[int, dict]) -> list[int]:
    if not manifests:
        return [1]
    expected = {m["parts"] for m in manifests.values()}
    if len(expected) != 1 or len({m["photos"] for m in manifests.values()}) != 1:
        raise SystemExit("the parts received come from different kits: rebuild the kit and start again")
    return [k for k in range(1, expected.pop() + 1) if k not in manifests]


def train(into: Path, manifest: dict, args: argparse.Namespace, extra: list[str]) -> Path:
    """Run the project's training command on the unpacked data; returns the checkpoint directory."""
    command = [sys.executable, "-m", "scripts.train", *[str(into / "data" / name) for name in manifest["data"]],
               "--name", args.name, "--out", str(into / "checkpoints"), "--state-dir", str(into / "state"),
               *TRAIN_SETTINGS, "--device", args.device, "--workers", str(args.workers), "--epochs", str(args.epochs),
               *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(into / "site"), str(ROOT)]), "PYTHONUNBUFFERED": "1"}
    print(" ".join(command), flush=True)
    with (args.out / "train.log").open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        for line in process.stdout:
            print(line, end="", flush=True)
            log.write(line)
        if process.wait() != 0:
            raise SystemExit(f"training failed (exit {process.returncode}); see train.log")
    return into / "checkpoints" / args.name


def pack(checkpoint: Path, out: Path) -> dict:
    """The checkpoint as one tar in pieces of at most PIECE bytes under `out`; returns their names and sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(checkpoint.iterdir()):
            archive.add(path, arcname=path.name)
    data = buffer.getvalue()
    pieces = []
    for number, start in enumerate(range(0, len(data), PIECE)):
        name = f"checkpoint.tar.part-{number:02d}"
        (out / name).write_bytes(data[start : start + PIECE])
        pieces.append(name)
    return {"checkpoint_tar_sha256": hashlib.sha256(data).hexdigest(), "pieces": pieces}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kit", type=Path, default=ROOT / ".kit", help="where the call's parts arrive")
    parser.add_argument("--into", type=Path, default=Path("/tmp/kit"), help="where the parts are gathered")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out")))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=12, help="photo-decoding processes")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--name", default="device")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    started = time.perf_counter()
    from PIL import features  # the kit's photos are WebP

    if not features.check("webp"):
        raise SystemExit("this Pillow cannot read WebP: build the kit as JPEG, or carry a Pillow wheel that can")
    manifests = unpack(args.kit, args.into)
    missing = missing_parts(manifests)
    if missing:
        print(f"waiting for part(s) {', '.join(map(str, missing))}: call again, carrying .kit/part-{missing[0]}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    unpacked = time.perf_counter() - started
    checkpoint = train(args.into, manifests[1], args, extra)
    provenance = json.loads((checkpoint / "provenance.json").read_text())
    summary = {"unpack_seconds": round(unpacked, 1), "total_seconds": round(time.perf_counter() - started, 1),
               "train_seconds": provenance["train_seconds_this_run"],
               "kit": {k: manifests[1][k] for k in ("side", "quality", "photos")},
               "validation_on_kit_copies": provenance["validation"], "history": provenance["history"],
               **pack(checkpoint, args.out)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
