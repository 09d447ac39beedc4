"""Train the default model's heads (and optionally its last blocks) on one or more data directories.

    python -m scripts.train DATA_DIR [DATA_DIR ...] --name NAME [--epochs N] [--seed S] [--resume]

DATA_DIR is any folder in the shared-data layout: fashion-products, clothing, or the API's review export
(detected from labels.csv's columns). Only the training side of `kalas.dataset.split` is trained on; the
validation side is scored after every epoch. `--backbone` picks the network (EfficientNet-Lite0 at 224 px, the
default, or Lite2 at 260 px; `--input-size` another side). The frozen part of it runs once per image (cached under
var/cache/features). By default only the heads are trained, on features pooled once per run; with
`--tune-from 12..15` the last blocks are fine-tuned too, on the cached tensors (slower on a CPU by the cost
of those blocks per image and epoch). `--views K` caches K augmented views of every training photo
(kalas/features.py `augment`) and draws each example's view at random per epoch: the cheap stand-in for
on-the-fly augmentation when the backbone's first blocks are not run per step. `--tune-from 0` trains the whole
network on the photos themselves, each epoch a fresh augmented view of every photo (decoded by `--workers`
processes): the way to train on a GPU (`--device cuda`, bf16 autocast). `--instance-dim` of the
embedding's dimensions are its instance part (handlers/models/fashion.py), fitted after training. `--init
CHECKPOINT` trains on from a checkpoint instead of ImageNet's Lite0 (its tuned blocks, its heads): the way to
feed reviews into the shipped model on a CPU, by training its heads (or its last blocks) on features of its own
backbone, which keeps the blocks that checkpoint tuned. `--repeat NAME=K` shows the training photos of one
directory K times an epoch (a few hundred reviews beside thousands of shop photos). `--teacher CHECKPOINT`
distils a trained network into this one: its scores on each photo are soft targets beside the labels
(kalas/distillation.py). A training
state is written after every epoch, and `--resume` continues from it to the same result as an uninterrupted
run. The final model goes to `checkpoints/NAME/`: heads.pt, meta.json, labels.json and provenance.json (data, counts, command, seed,
commit, validation metrics, sha256 of each file).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from handlers.openmp_pool import bound_openmp_spinning


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    # Imported here, not above: they import torch, which `main` must not have loaded before it bounds OpenMP.
    from handlers.models import BACKBONES, LITE0
    from handlers.models.fashion import WHOLE
    from kalas.features import CACHE_ROOT
    from kalas.trainer import EMBEDDING_DIM

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dirs", nargs="+", type=Path, help="directories with images/<id>.jpg and labels.csv")
    parser.add_argument("--name", required=True, help="checkpoint name: written to OUT/NAME/")
    parser.add_argument("--out", type=Path, default=Path("checkpoints"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="heads' learning rate (the tuned blocks get 0.3×)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init", type=Path, metavar="CHECKPOINT",
        help="train on from this checkpoint (e.g. checkpoints/fashion with a review export) instead of from ImageNet",
    )
    parser.add_argument(
        "--teacher", type=Path, metavar="CHECKPOINT",
        help="distil this trained checkpoint (a larger network) into the one trained here: its scores on every photo "
        "as soft targets beside the labels (kalas/distillation.py)",
    )
    parser.add_argument("--distill-weight", type=float, default=1.0, help="with --teacher: the soft targets' weight")
    parser.add_argument("--distill-temperature", type=float, default=2.0,
                        help="with --teacher: the temperature both networks' scores are softened by")
    parser.add_argument(
        "--texture-groups", nargs="*", default=["pattern"], metavar="GROUP",
        help="attribute groups whose heads read the texture block's statistics (Lite0's block 14), not the shared hidden layer",
    )
    parser.add_argument(
        "--new-heads-only", action="store_true",
        help="with --init: train only the heads of attribute groups the taxonomy gained since that checkpoint "
        "(everything the checkpoint has stays exactly as it is)",
    )
    parser.add_argument(
        "--colour-weight", type=float, default=0.3,
        help="weight of the colour proxy loss on the embedding (0: neighbours share the category only)",
    )
    parser.add_argument(
        "--colour-head-weight", type=float, default=0.0,
        help="weight of the colour head's loss (0: no colour head; the served colour then comes from pixels alone)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--backbone", choices=list(BACKBONES),
        help=f"the network, from its package's ImageNet weights ({LITE0.name} by default; with --init, that "
        "checkpoint's)",
    )
    parser.add_argument("--input-size", type=int, help="the photos' side in pixels (the backbone's own by default)")
    parser.add_argument(
        "--tune-from", type=int,
        help=f"fine-tune the backbone's blocks from this one on (its number of blocks, {LITE0.num_blocks} for Lite0: "
        f"heads only, the fast default; {LITE0.earliest_tuned}-{LITE0.num_blocks - 1} for Lite0: its last blocks on "
        f"cached features; {WHOLE}: the whole network, on freshly augmented photos every epoch)",
    )
    parser.add_argument(
        "--train-batch-norm", action="store_true",
        help="let the tuned part's batch norms learn this data's statistics (by default they keep ImageNet's)",
    )
    parser.add_argument("--device", default="cpu", help="torch device to train on (cuda: bf16 autocast)")
    parser.add_argument("--workers", type=int, default=0, help="photo-decoding processes for --tune-from 0")
    parser.add_argument(
        "--views", type=int, default=0,
        help="augmented views cached per training photo, drawn at random each epoch (0: the photos as served)",
    )
    parser.add_argument(
        "--instance-dim", type=int, default=64,
        help=f"of the {EMBEDDING_DIM}-d embedding, the dimensions of the instance part (0: semantic only)",
    )
    parser.add_argument("--instance-weight", type=float, default=0.5, help="the instance part's weight")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="for the category and attribute losses")
    parser.add_argument(
        "--repeat", action="append", default=[], metavar="NAME=K",
        help="show the training photos of data directory NAME K times an epoch (e.g. clothing=2: weigh consumer "
        "photos up against shop photos); repeatable",
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE_ROOT)
    parser.add_argument("--state-dir", type=Path, default=Path("var/train"), help="per-epoch training states")
    parser.add_argument("--resume", action="store_true", help="continue from the last per-epoch state")
    parser.add_argument("--stop-after", type=int, help="stop after this epoch (continue later with --resume)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    resolve_backbone(parser, args)
    if args.new_heads_only and (args.init is None or args.tune_from != BACKBONES[args.backbone].num_blocks):
        parser.error("--new-heads-only needs --init and the heads-only default of --tune-from")
    args.repeat = parse_repeats(parser, args.repeat, [d.name for d in args.data_dirs])
    args.command = " ".join(["python -m scripts.train", *(sys.argv[1:] if argv is None else argv)])
    return args


def resolve_backbone(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`args.backbone` named (an --init checkpoint's own), `args.tune_from` a number its blocks allow (heads only
    when not given); parser.error when they do not fit."""
    from handlers.models import BACKBONES, LITE0
    from handlers.models.fashion import META_FILE, WHOLE

    if args.init is not None:
        try:  # a checkpoint from before Lite2 names Lite0 or nothing; an unreadable one is start_from's to report
            named = json.loads((args.init / META_FILE).read_text()).get("backbone", LITE0.name)
        except (OSError, ValueError):
            named = args.backbone
        if args.backbone not in (None, named):
            parser.error(f"--backbone {args.backbone}: the --init checkpoint {args.init} was trained on {named}")
        if args.input_size is not None:
            parser.error("--input-size: an --init checkpoint keeps the input size it was trained at")
        args.backbone = named
    args.backbone = args.backbone or LITE0.name
    if args.backbone not in BACKBONES:
        parser.error(f"{args.init} names the backbone {args.backbone!r}: one of {', '.join(BACKBONES)}")
    spec = BACKBONES[args.backbone]
    if args.input_size is not None and not 64 <= args.input_size <= 1024:
        parser.error(f"--input-size {args.input_size}: a side from 64 to 1024 pixels")
    if args.tune_from is None:
        args.tune_from = spec.num_blocks
    elif not (args.tune_from == WHOLE or spec.earliest_tuned <= args.tune_from <= spec.num_blocks):
        parser.error(f"--tune-from {args.tune_from}: {spec.name} trains from block {WHOLE} (the whole network) or "
                     f"from {spec.earliest_tuned} to {spec.num_blocks} (the heads alone)")


def parse_repeats(parser: argparse.ArgumentParser, given: list[str], names: list[str]) -> list[int]:
    """--repeat NAME=K values as one count per data directory (1 where not given)."""
    times = [1] * len(names)
    for item in given:
        name, _, count = item.partition("=")
        if names.count(name) != 1 or not count.isdigit() or int(count) < 1:
            parser.error(f"--repeat {item}: expected NAME=K with NAME one of the data directories' names "
                         f"({', '.join(names)}; one of a kind) and K a whole number ≥ 1")
        times[names.index(name)] = int(count)
    return times


def main(argv: list[str] | None = None) -> None:
    # Before torch is first imported. Beside any other busy process (a test run, a benchmark), torch's spinning OpenMP
    # workers held a core while the thread they waited for was descheduled: a step of `--tune-from 12` took 3.8 s,
    # and 1.1 s with the spinning bounded, on this 2-core machine beside the same test run (about 10 min an epoch vs 3).
    bound_openmp_spinning()
    from kalas.training import train

    provenance = train(parse_args(argv))
    print(json.dumps(provenance["validation"], indent=2))


if __name__ == "__main__":
    main()
