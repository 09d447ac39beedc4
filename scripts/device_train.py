"""On the GPU machine: unpack the kit parts a call carried, and once every part has come, train, leaving the
checkpoint and the log under $OUT (docs/model_card.md, "Device run").

    python3 -m scripts.device_train [--epochs 30] [--workers 12] [--device cuda] [--run NAME=ARGUMENTS ...]
                                    [-- MORE TRAIN ARGUMENTS]

Each call of the device tool carries one part of the kit (scripts/device_kit.py, `.kit/part-K/`): this unpacks it
into `--into` (/tmp/kit, which stays while the machine is held), checks its photos.zip against its manifest, and
installs the wheels it brings there. While parts are missing it says which and stops; the call that brings the
last one trains with the project's own command (`python -m scripts.train ... --tune-from 0 --device cuda`, the
shipped model's settings, docs/model_card.md "How it was trained"; anything after `--` is added to it). Each
`--run NAME=ARGUMENTS` is a training of its own with those arguments added (`--run lite2='--backbone
efficientnet-lite2'`), all of them side by side on the one GPU, the decoding workers shared out; without any, one run
named `--name`. $OUT then holds, per run, NAME.log and the checkpoint as NAME.tar.part-NN pieces of at most 15 MiB
(the tool brings back at most 8 files of at most 16 MiB: a whole Lite0 or Lite2 checkpoint is two pieces, so three
runs are the most that come back), and summary.json (per run the validation figures per epoch on the kit's copies,
the seconds, the pieces' sha256); on this machine `cat NAME.tar.part-* | tar -x -C DIR` gives DIR/heads.pt,
meta.json, labels.json and provenance.json.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import threading
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


def parse_runs(parser: argparse.ArgumentParser, given: list[str] | None, default: str) -> dict[str, list[str]]:
    """{run name: its own training arguments} from `--run NAME=ARGUMENTS` items (one run named `default` without)."""
    runs: dict[str, list[str]] = {}
    for item in given or [f"{default}="]:
        name, _, arguments = item.partition("=")
        if not name.replace("-", "").replace("_", "").isalnum() or name in runs:
            parser.error(f"--run {item}: expected NAME=ARGUMENTS, NAME letters, digits, - and _, each NAME once")
        runs[name] = shlex.split(arguments)
    return runs


def train(into: Path, manifest: dict, args: argparse.Namespace, runs: dict[str, list[str]],
          extra: list[str]) -> dict[str, Path | None]:
    """Run the project's training command on the unpacked data, once per run, side by side; returns each run's
    checkpoint directory (None for a run that failed: its log says why)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(into / "site"), str(ROOT)]), "PYTHONUNBUFFERED": "1"}
    workers = args.workers // len(runs) if args.workers else 0
    printing = threading.Lock()
    processes, readers = {}, []
    for name, own in runs.items():
        command = [sys.executable, "-m", "scripts.train", *[str(into / "data" / d) for d in manifest["data"]],
                   "--name", name, "--out", str(into / "checkpoints"), "--state-dir", str(into / "state"),
                   *TRAIN_SETTINGS, "--device", args.device, "--workers", str(workers), "--epochs", str(args.epochs),
                   *extra, *own]
        print(f"[{name}] " + " ".join(command), flush=True)
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
        readers.append(threading.Thread(target=_relay, args=(name, processes[name], args.out / f"{name}.log", printing)))
        readers[-1].start()
    for reader in readers:
        reader.join()
    return {name: into / "checkpoints" / name if process.wait() == 0 else None for name, process in processes.items()}


def _relay(name: str, process: subprocess.Popen, log_path: Path, printing: threading.Lock) -> None:
    """A run's output into its log and, each line marked with its name, onto this call's output."""
    with log_path.open("w") as log:
        for line in process.stdout:
            log.write(line)
            log.flush()
            with printing:
                print(f"[{name}] {line}", end="", flush=True)


def pack(checkpoint: Path, out: Path, name: str = "checkpoint") -> dict:
    """The checkpoint as one tar in pieces of at most PIECE bytes under `out` (NAME.tar.part-NN); returns their names
    and sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(checkpoint.iterdir()):
            archive.add(path, arcname=path.name)
    data = buffer.getvalue()
    pieces = []
    for number, start in enumerate(range(0, len(data), PIECE)):
        piece = f"{name}.tar.part-{number:02d}"
        (out / piece).write_bytes(data[start : start + PIECE])
        pieces.append(piece)
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
    parser.add_argument("--name", default="device", help="the run's name when there is one")
    parser.add_argument("--run", action="append", metavar="NAME=ARGUMENTS",
                        help="a training run of its own, its arguments added to the command (repeatable: the runs "
                        "train side by side)")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    runs = parse_runs(parser, args.run, args.name)
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
    checkpoints = train(args.into, manifests[1], args, runs, extra)
    summary = {"unpack_seconds": round(unpacked, 1), "kit": {k: manifests[1][k] for k in ("side", "quality", "photos")},
               "runs": {}}
    for name, checkpoint in checkpoints.items():
        if checkpoint is None:
            summary["runs"][name] = {"failed": f"see {name}.log"}
            continue
        provenance = json.loads((checkpoint / "provenance.json").read_text())
        summary["runs"][name] = {"train_seconds": provenance["train_seconds_this_run"],
                                 "validation_on_kit_copies": provenance["validation"],
                                 "history": provenance["history"], **pack(checkpoint, args.out, name)}
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({name: {k: v for k, v in run.items() if k != "history"} for name, run in summary["runs"].items()},
                     indent=1))
    failed = [name for name, checkpoint in checkpoints.items() if checkpoint is None]
    if failed:
        print(f"training failed: {', '.join(failed)} (see their logs)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
