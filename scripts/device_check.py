"""On the GPU machine: both handlers in-process on the GPU beside the same handlers on its CPU, on the kit's photos:
their answers compared within stated tolerances, and each side's throughput (docs/model_card.md, "Device run").

    python3 -m scripts.device_check [--photos 256] [--batch 32] [--checkpoint checkpoints/fashion] [--gpu 0]

It gathers the kit's parts as scripts/device_train.py does (the call after the training's, with the machine still
held, finds them in `--into`), stages both archives from `--checkpoint` with the kit's torch-model-archiver, and
opens each twice (handlers/in_process.py): on the CPU, and with TorchServe's `gpu_id` (the worker's GPU,
handlers/base_handler.py `serving_device`). `--photos` of the kit's photos, half of each data set, go through both
in batches of `--batch`. What must hold, per photo: the same top category and the same colour names; every
category and attribute score within SCORE_TOLERANCE of the CPU's; the embedding's cosine with the CPU's at least
MIN_COSINE (the GPU's convolutions may use TF32, whose 10-bit mantissa moves scores in the third decimal). Speed:
photos a second through each handler (decoding and colours included, on the CPU either way) and the network alone
on a batch. $OUT/device_check.json holds the figures; the exit status is 1 when a tolerance does not hold.
TorchServe's Java frontend and faiss-gpu do not run there (no Java, nothing fetched): not measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
SCORE_TOLERANCE = 5e-3
MIN_COSINE = 0.999


def kit_photos(into: Path, data: list[str], count: int) -> list[bytes]:
    """`count` photos of the gathered kit, half from each data directory, in a fixed order."""
    from kalas.dataset import read_records

    per = count // len(data)
    return [r.image.read_bytes() for name in data for r in read_records(into / "data" / name)[:per]]


def compare(cpu: list[dict], gpu: list[dict], kind: str) -> dict:
    """How far the GPU's answers are from the CPU's, and whether that is within the tolerances."""
    if kind == "embedding":
        cosines = [sum(a * b for a, b in zip(c["embedding"], g["embedding"])) for c, g in zip(cpu, gpu)]
        return {"min_cosine": round(min(cosines), 6), "holds": min(cosines) >= MIN_COSINE}
    worst, same_top, same_colours = 0.0, 0, 0
    for c, g in zip(cpu, gpu):
        same_top += c["category"][0]["label"] == g["category"][0]["label"]
        same_colours += [x["name"] for x in c.get("colours", [])] == [x["name"] for x in g.get("colours", [])]
        scores = [(c["category"], g["category"]), *[(c["attributes"][k], g["attributes"][k]) for k in c["attributes"]]]
        for ours, theirs in scores:
            by_label = {x["label"]: x["score"] for x in theirs}
            worst = max([worst, *[abs(x["score"] - by_label.get(x["label"], 0.0)) for x in ours]])
    return {"max_score_difference": round(worst, 6), "same_top_category": f"{same_top}/{len(cpu)}",
            "same_colour_names": f"{same_colours}/{len(cpu)}",
            "holds": worst <= SCORE_TOLERANCE and same_top == len(cpu) and same_colours == len(cpu)}


def photos_per_second(served, photos: list[bytes], batch: int) -> tuple[list[dict], float]:
    answers, started = [], time.perf_counter()
    for start in range(0, len(photos), batch):
        answers += [body for _, body in served.handle(photos[start : start + batch])]
    return answers, round(len(photos) / (time.perf_counter() - started), 1)


def network_per_second(served, batch: int, rounds: int = 20) -> float:
    """The frozen network alone on a batch already on its device, synchronised."""
    import torch

    size = served.handler.preprocessing["image_size"]
    images = torch.randn(batch, 3, size, size).to(served.handler.device).contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if served.handler.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        for _ in range(3):
            served.handler.model(images)
        sync()
        started = time.perf_counter()
        for _ in range(rounds):
            served.handler.model(images)
        sync()
    return round(batch * rounds / (time.perf_counter() - started), 1)


def main(argv: list[str] | None = None) -> int:
    from scripts.device_train import missing_parts, unpack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kit", type=Path, default=ROOT / ".kit")
    parser.add_argument("--into", type=Path, default=Path("/tmp/kit"))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out")))
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "fashion")
    parser.add_argument("--photos", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--gpu", type=int, default=0, help="the GPU's index; -1: the CPU again (a dry run)")
    args = parser.parse_args(argv)
    manifests = unpack(args.kit, args.into)
    missing = missing_parts(manifests)
    if missing:
        print(f"waiting for part(s) {', '.join(map(str, missing))}: call again, carrying .kit/part-{missing[0]}")
        return 0
    with kit_packages(args.into / "site"):
        figures = check(args, manifests[1]["data"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
    return 0 if all(figures[name]["holds"] for name in figures["models"]) else 1


@contextmanager
def kit_packages(site: Path) -> Iterator[None]:
    """The kit's packages first on this process's path and its children's (the archiver), while the check runs."""
    saved_path, saved_variable = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), str(ROOT), saved_variable) if p)
    try:
        yield
    finally:
        sys.path[:] = saved_path
        if saved_variable is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_variable


def check(args: argparse.Namespace, data: list[str]) -> dict:
    """The figures of both handlers, GPU against CPU."""
    import torch

    from handlers.archive import ATTRIBUTES, EMBEDDER, stage_archives
    from handlers.in_process import open_archive

    photos = kit_photos(args.into, data, args.photos)
    staged = stage_archives(args.checkpoint)
    figures: dict = {"device": torch.cuda.get_device_name(args.gpu) if args.gpu >= 0 else "cpu",
                     "torch": torch.__version__, "photos": len(photos), "batch": args.batch,
                     "tolerances": {"score": SCORE_TOLERANCE, "min_cosine": MIN_COSINE},
                     "models": [ATTRIBUTES, EMBEDDER]}
    for name, kind in ((ATTRIBUTES, "annotation"), (EMBEDDER, "embedding")):
        cpu = open_archive(Path(staged.name), name)
        gpu = open_archive(Path(staged.name), name, gpu_id=args.gpu if args.gpu >= 0 else None)
        cpu_answers, cpu_rate = photos_per_second(cpu, photos, args.batch)
        gpu_answers, gpu_rate = photos_per_second(gpu, photos, args.batch)
        figures[name] = {"gpu_device": str(gpu.handler.device), **compare(cpu_answers, gpu_answers, kind),
                         "photos_per_second": {"cpu": cpu_rate, "gpu": gpu_rate},
                         "network_photos_per_second": {"cpu": network_per_second(cpu, args.batch),
                                                       "gpu": network_per_second(gpu, args.batch)}}
    staged.cleanup()
    return figures


if __name__ == "__main__":
    sys.exit(main())
