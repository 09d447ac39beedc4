"""Train the default model's heads (and optionally its last blocks) on one or more data directories.

    python -m scripts.train DATA_DIR [DATA_DIR ...] --name NAME [--epochs N] [--seed S] [--resume]

DATA_DIR is any folder in the shared-data layout: fashion-products, clothing, or the API's review export
(detected from labels.csv's columns). Only the training side of `kalas.dataset.split` is trained on; the
validation side is scored after every epoch. The frozen part of Lite0 runs once per image (cached under
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
directory K times an epoch (a few hundred reviews beside thousands of shop photos). A training
state is written after every epoch, and `--resume` continues from it to the same result as an uninterrupted
run. The final model goes to `checkpoints/NAME/`: heads.pt, meta.json, labels.json and provenance.json (data, counts, command, seed,
commit, validation metrics, sha256 of each file).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

from handlers.openmp_pool import bound_openmp_spinning

# Before torch is first imported. Beside any other busy process (a test run, a benchmark), torch's spinning OpenMP
# workers held a core while the thread they waited for was descheduled: a step of `--tune-from 12` took 3.8 s,
# and 1.1 s with the spinning bounded, on this 2-core machine beside the same test run (about 10 min an epoch vs 3).
bound_openmp_spinning()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

from handlers.archive import file_sha256  # noqa: E402
from handlers.images import to_tensor  # noqa: E402
from handlers.models import INPUT_SIZE, MEAN, STD, build_model, save_fashion_model  # noqa: E402
from handlers.models.efficientnet_lite import FEATURE_DIM, package_weights_path  # noqa: E402
from handlers.models.fashion import (  # noqa: E402
    EARLIEST_TUNED, FROZEN, WEIGHTS_FILE, WHOLE, FashionModel, load_fashion_model,
)
from handlers.taxonomy import load_taxonomy  # noqa: E402
from kalas.dataset import Record  # noqa: E402
from kalas.features import CACHE_ROOT, cache_dir, cached_features, view_image  # noqa: E402
from kalas.provenance import git_commit, portable_path  # noqa: E402
from kalas.training_data import Examples, label_space, node_labels, read_examples, split_examples  # noqa: E402
from kalas.training_metrics import validate  # noqa: E402

EMBEDDING_DIM = 256
# Cosine-softmax scale for the embedding's proxy losses (a temperature of 1/16).
PROXY_SCALE = 16.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
        "--colour-weight", type=float, default=0.3,
        help="weight of the colour proxy loss on the embedding (0: neighbours share the category only)",
    )
    parser.add_argument(
        "--colour-head-weight", type=float, default=0.0,
        help="weight of the colour head's loss (0: no colour head; the served colour then comes from pixels alone)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--tune-from", type=int, default=FROZEN, choices=[WHOLE, *range(EARLIEST_TUNED, FROZEN + 1)],
        help=f"fine-tune Lite0 blocks from this one on ({FROZEN}: heads only, the fast default; {WHOLE}: the whole "
        "network, on freshly augmented photos every epoch)",
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
    args.repeat = parse_repeats(parser, args.repeat, [d.name for d in args.data_dirs])
    args.command = " ".join(["python -m scripts.train", *(sys.argv[1:] if argv is None else argv)])
    return args


class Trainer:
    """The model plus the training-only parts (embedding proxies, optimiser, schedule)."""

    def __init__(self, model: FashionModel, nodes: int, colours: int, args: argparse.Namespace, steps: int) -> None:
        self.model = model
        semantic_dim = EMBEDDING_DIM - args.instance_dim
        device = next(model.parameters()).device  # drawn on the CPU: the same start on every device
        self.node_proxies = torch.nn.Parameter((torch.randn(nodes, semantic_dim) * 0.01).to(device))
        self.colour_proxies = torch.nn.Parameter((torch.randn(colours, semantic_dim) * 0.01).to(device))
        heads = list(model.heads.parameters()) + [self.node_proxies, self.colour_proxies]
        tail = [p for p in model.trainable_parameters() if all(p is not h for h in heads)]
        self.optimizer = torch.optim.AdamW(
            [{"params": heads, "lr": args.lr}, {"params": tail, "lr": args.lr * 0.3}], weight_decay=1e-4
        )
        self.colour_weight = args.colour_weight
        self.colour_head_weight = args.colour_head_weight
        self.label_smoothing = args.label_smoothing
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=[args.lr, args.lr * 0.3], total_steps=steps, pct_start=0.1
        )

    def step(self, out: dict, batch: Examples) -> float:
        smoothing = self.label_smoothing
        loss = category_loss(out["category"], batch.category_mask, smoothing)
        for group, logits in out["attributes"].items():
            loss = loss + masked_cross_entropy(logits, batch.attributes[group], smoothing)
        embedding = out["semantic"]
        loss = loss + masked_cross_entropy(PROXY_SCALE * embedding @ F.normalize(self.node_proxies, dim=1).T, batch.category_node)
        colour_logits = PROXY_SCALE * embedding @ F.normalize(self.colour_proxies, dim=1).T
        loss = loss + self.colour_weight * masked_cross_entropy(colour_logits, batch.colour)
        if "colour" in out:
            loss = loss + self.colour_head_weight * masked_cross_entropy(out["colour"], batch.colour, smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    @torch.no_grad()
    def seed_proxies(self, pooled: torch.Tensor, rows: Examples, batch: int = 1024) -> None:
        """Start each proxy at the mean embedding of its labelled rows (`pooled`: the rows' pooled features), so
        that a model trained on from a checkpoint keeps its embedding: random proxies would first pull it apart."""
        device = self.node_proxies.device
        semantic = torch.cat([self.model.heads(pooled[i : i + batch].to(device))["semantic"]
                              for i in range(0, len(pooled), batch)])
        for proxies, targets in ((self.node_proxies, rows.category_node), (self.colour_proxies, rows.colour)):
            labelled = targets >= 0
            sums = torch.zeros_like(proxies).index_add_(0, targets[labelled].to(device), semantic[labelled.to(device)])
            seen = sums.norm(dim=1) > 0
            proxies[seen] = F.normalize(sums[seen], dim=1)

    def state(self) -> dict:
        return {
            "model": self.model.trained_state(),
            "proxies": {"node": self.node_proxies.detach(), "colour": self.colour_proxies.detach()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load(self, state: dict) -> None:
        self.model.load_state_dict({**self.model.state_dict(), **state["model"]}, strict=True)
        with torch.no_grad():
            self.node_proxies.copy_(state["proxies"]["node"])
            self.colour_proxies.copy_(state["proxies"]["colour"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def category_loss(logits: torch.Tensor, mask: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """-log P(prediction in the labelled set of leaves); rows without a category label are left out.

    With `smoothing` ε the loss is mixed with ε × the mean -log p over all leaves, as label smoothing does."""
    labelled = mask.any(dim=1)
    if not labelled.any():
        return logits.sum() * 0.0
    logits, mask = logits[labelled], mask[labelled]
    normaliser = logits.logsumexp(dim=1)
    in_set = logits.masked_fill(~mask, float("-inf")).logsumexp(dim=1)
    loss = normaliser - in_set
    if smoothing:
        loss = (1 - smoothing) * loss + smoothing * (normaliser - logits.mean(dim=1))
    return loss.mean()


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    if not (target >= 0).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=-1, label_smoothing=smoothing)


def freeze_batch_norm(model: FashionModel) -> None:
    """Keep the ImageNet running statistics: batches of one data set would skew them towards it."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    taxonomy = load_taxonomy()
    examples, kinds = read_examples(args.data_dirs, taxonomy)
    train_index, val_index = split_examples(examples)
    space = label_space(taxonomy)
    colours = [c.label for c in taxonomy.colours] if args.colour_head_weight else []
    weights_sha = file_sha256(package_weights_path())
    init_meta = init_sha = None
    if args.init is None:
        model = build_model(
            space["categories"], space["attributes"], embedding_dim=EMBEDDING_DIM, instance_dim=args.instance_dim,
            instance_weight=args.instance_weight, tune_from=args.tune_from, colours=len(colours),
        )
    else:
        model, init_meta = start_from(args.init, {**space, "colours": colours, "backbone_sha256": weights_sha}, args)
        init_sha = file_sha256(args.init / WEIGHTS_FILE)

    features_sha = weights_sha
    if init_meta is not None and init_meta["tune_from"] < model.cache_block:
        # The cached blocks are that checkpoint's, not ImageNet's: their features are cached apart.
        features_sha = hashlib.sha256(f"{weights_sha}+{init_sha}".encode()).hexdigest()
    device = torch.device(args.device)
    frozen, whole = args.tune_from == FROZEN, args.tune_from == WHOLE
    if whole:
        if args.views:
            raise SystemExit("--views caches augmented views for the cached blocks; --tune-from 0 augments afresh every epoch")
        # Validation scores the photos as served, decoded once; training decodes a new view of each every epoch.
        views = [PhotoRows(examples.records, val_index, args.workers)]
        module = model
    else:
        views = [view_features(model, examples, train_index, view, features_sha, args) for view in range(args.views + 1)]
        if frozen:
            # Nothing before the heads is trained: pool every image once and train the heads on the vectors.
            model.eval()
            views = [pooled_features(model, features, args.no_progress) for features in views]
            module = model.heads
        else:
            module = model.from_cached
    inputs = views[0]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        model.to(device, memory_format=torch.channels_last)
    forward = on_device(module, device)

    def score() -> dict:
        return validate(on_cpu(forward), inputs, examples, val_index, taxonomy, kinds, [d.name for d in args.data_dirs])

    # The rows an epoch shows: every training row, and again those of the directories --repeat weighs up.
    epoch_rows = torch.cat([train_index] + [
        train_index[examples.source[train_index] == source]
        for source, times in enumerate(args.repeat) for _ in range(times - 1)
    ])
    steps_per_epoch = math.ceil(len(epoch_rows) / args.batch_size)
    trainer = Trainer(model, len(node_labels(taxonomy)), len(taxonomy.colours), args, steps_per_epoch * args.epochs)
    state_path = args.state_dir / args.name / "state.pt"
    start_epoch, history = 0, []
    if args.resume:
        if not state_path.is_file():
            raise SystemExit(f"--resume: no training state at {state_path}; run without --resume to start")
        state = torch.load(state_path, weights_only=False)
        if state["setup"] != setup_of(args):
            raise SystemExit(f"--resume: {state_path} was trained with {state['setup']}, not {setup_of(args)}")
        trainer.load(state["trainer"])
        torch.set_rng_state(state["rng"])
        start_epoch, history = state["epoch"] + 1, state["history"]
    elif init_meta is not None:
        model.eval()
        trainer.seed_proxies(training_pooled(model, inputs, examples, train_index, args), examples.subset(train_index))

    started = time.perf_counter()
    epochs = tqdm(range(start_epoch, args.epochs), desc="epochs", unit="epoch", disable=args.no_progress)
    for epoch in epochs:
        model.train()
        if not args.train_batch_norm:
            freeze_batch_norm(model)
        if frozen:
            model.backbone.eval()
        # One generator per epoch, seeded from (seed, epoch): a resumed run shuffles and flips exactly alike.
        generator = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        order = epoch_rows[torch.randperm(len(epoch_rows), generator=generator)]
        flips = torch.rand(len(order), generator=generator) < 0.5
        # Drawn only with views, so that runs without them shuffle exactly as they always did.
        drawn = torch.randint(0, len(views), (len(order),), generator=generator) if len(views) > 1 else None
        if whole:
            # A view per (seed, epoch) of every photo: crop, mirror and light differ each epoch, the same on a rerun.
            batches = photo_batches(examples.records, order, 1 + args.seed * 10_000 + epoch, args.batch_size, args.workers, device)
        else:
            batches = cached_batches(views, order, flips if not frozen else None, drawn, args.batch_size)
        losses = []
        bar = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}", leave=False, disable=args.no_progress)
        for rows, x in bar:
            losses.append(trainer.step(forward(x), examples.subset(rows).to(device)))
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        model.eval()
        metrics = score()
        history.append({"epoch": epoch + 1, "train_loss": sum(losses) / len(losses), "validation": metrics})
        epochs.write(f"epoch {epoch + 1}: loss {history[-1]['train_loss']:.3f} " + summary(metrics))
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state = {"epoch": epoch, "setup": setup_of(args), "trainer": trainer.state(), "rng": torch.get_rng_state(), "history": history}
        torch.save(state, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)
        if args.stop_after is not None and epoch + 1 >= args.stop_after and epoch + 1 < args.epochs:
            epochs.write(f"stopped after epoch {epoch + 1}; continue with --resume")
            return {"stopped_after": epoch + 1, "validation": history[-1]["validation"]}

    model.eval()
    if args.instance_dim:
        pooled = training_pooled(model, inputs, examples, train_index, args)
        model.heads.fit_instance_projection(pooled[:, :FEATURE_DIM].float())
        if history:  # the retrieval figure changes with the instance part: score the model as saved
            history[-1]["validation"] = score()
    model.to("cpu", memory_format=torch.contiguous_format)
    out_dir = args.out / args.name
    meta = {
        "name": args.name,
        "backbone": "efficientnet-lite0",
        "backbone_sha256": weights_sha,
        **space,
        "embedding_dim": EMBEDDING_DIM,
        "instance_dim": args.instance_dim,
        "instance_weight": args.instance_weight,
    }
    if colours:
        meta["colours"] = colours
    files = save_fashion_model(model, meta, out_dir)
    labels = {
        "category": [{"label": c, "name": taxonomy.name(c)} for c in space["categories"]],
        "attributes": {g: [{"label": t.label, "name": t.name} for t in terms] for g, terms in taxonomy.attributes.items()},
    }
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    files.append(out_dir / "labels.json")
    provenance = {
        "command": args.command,
        "seed": args.seed,
        "tune_from": args.tune_from,
        **({"init": {"checkpoint": portable_path(args.init), "heads_sha256": init_sha,
                     "tune_from": init_meta["tune_from"]}} if init_meta is not None else {}),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "data": [
            {
                "dir": portable_path(d),
                "kind": kind,
                "train": int((examples.source[train_index] == i).sum()),
                "validation": int((examples.source[val_index] == i).sum()),
            }
            for i, (d, kind) in enumerate(zip(args.data_dirs, kinds))
        ],
        "epochs": args.epochs,
        "train_seconds_this_run": round(time.perf_counter() - started, 1),
        "validation": history[-1]["validation"] if history else {},
        "history": [{k: v for k, v in h.items() if k != "validation"} for h in history],
        "files": {f.name: file_sha256(f) for f in files},
    }
    (out_dir / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def setup_of(args: argparse.Namespace) -> dict:
    """What must match for --resume to continue the same run."""
    return {
        "data_dirs": [str(d.resolve()) for d in args.data_dirs],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "colour_weight": args.colour_weight,
        "colour_head_weight": args.colour_head_weight,
        "seed": args.seed,
        "tune_from": args.tune_from,
        "views": args.views,
        "instance_dim": args.instance_dim,
        "instance_weight": args.instance_weight,
        "label_smoothing": args.label_smoothing,
        "train_batch_norm": args.train_batch_norm,
        **({"init": str(args.init.resolve())} if args.init else {}),
        **({"repeat": args.repeat} if any(times > 1 for times in args.repeat) else {}),
    }


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


def start_from(checkpoint: Path, expected: dict, args: argparse.Namespace) -> tuple[FashionModel, dict]:
    """The model of `checkpoint` to train on, `args.tune_from` on trainable; SystemExit when its meta.json
    differs from `expected` (label space, colours, backbone weights) or from this run's embedding."""
    try:
        model, meta = load_fashion_model(checkpoint)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"--init: {error}") from None
    wanted = {**expected, "embedding_dim": EMBEDDING_DIM, "instance_dim": args.instance_dim}
    found = {**meta, "instance_dim": meta.get("instance_dim", 0), "colours": meta.get("colours", [])}
    differ = [key for key, value in wanted.items() if found.get(key) != value]
    if differ:
        raise SystemExit(
            f"--init: {checkpoint} does not fit this run: its {', '.join(differ)} differ (a changed taxonomy or "
            "backbone package, or another --instance-dim or --colour-head-weight): match them, or train without --init"
        )
    model.heads.instance_weight = args.instance_weight
    return FashionModel(model.backbone, model.heads, args.tune_from, stored_from=meta["tune_from"]), meta


def training_pooled(model: FashionModel, inputs, examples: Examples, train_index: torch.Tensor,
                    args: argparse.Namespace) -> torch.Tensor:
    """[len(train_index), 2560] pooled features of the training photos as served, from what the run trains on."""
    if args.tune_from == WHOLE:
        return photo_pooled(model, examples.records, train_index, args.batch_size, args.workers)
    if args.tune_from == FROZEN:
        return inputs[train_index]
    return pooled_features(model, inputs[train_index], args.no_progress)


def view_features(
    model: FashionModel, examples: Examples, train_index: torch.Tensor, view: int, weights_sha: str,
    args: argparse.Namespace,
) -> torch.Tensor:
    """[N, 192, 7, 7] fp16 cached block outputs of every example as `view`. Augmented views (view > 0) are
    computed for training rows only and their validation rows stay zero: validation scores the photo as served."""
    features = torch.zeros((len(examples.records), 192, 7, 7), dtype=torch.float16)
    wanted = torch.zeros(len(examples.records), dtype=torch.bool)
    wanted[train_index] = True
    for source, data_dir in enumerate(args.data_dirs):
        rows = torch.nonzero(examples.source == source).flatten()
        if view:
            rows = rows[wanted[rows]]
        records = [examples.records[i] for i in rows.tolist()]
        directory = cache_dir(data_dir, model.cache_block, weights_sha, args.cache_dir, view)
        features[rows] = cached_features(
            records, model.backbone, model.cache_block, directory, view=view, progress=not args.no_progress
        )
    return features


@torch.no_grad()  # not inference_mode: the heads' backward needs to save these tensors
def pooled_features(model: FashionModel, features: torch.Tensor, quiet: bool, batch: int = 128) -> torch.Tensor:
    device = next(model.parameters()).device
    chunks = [
        model.pooled(features[i : i + batch].float().to(device)).cpu()
        for i in tqdm(range(0, len(features), batch), desc="pooling", unit="batch", disable=quiet)
    ]
    return torch.cat(chunks)


def cached_batches(
    views: list[torch.Tensor], order: torch.Tensor, flips: torch.Tensor | None, drawn: torch.Tensor | None,
    batch_size: int,
):
    """(rows, inputs) batches of cached tensors: each row as its drawn view, its 7×7 map mirrored where flipped."""
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        x = views[0][rows].float()
        if drawn is not None:
            for view in range(1, len(views)):
                chosen = drawn[start : start + batch_size] == view
                x[chosen] = views[view][rows[chosen]].float()
        if flips is not None:
            flip = flips[start : start + batch_size]
            # A mirrored garment is the same garment; flipping the cached 7×7 map is the cheap stand-in.
            x[flip] = x[flip].flip(3)
        yield rows, x


class Photos(torch.utils.data.Dataset):
    """Example rows' photos as the model's input [3, INPUT_SIZE, INPUT_SIZE], as view `view` (features.view_image)."""

    def __init__(self, records: list[Record], view: int) -> None:
        self.records, self.view = records, view

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, row: int) -> tuple[torch.Tensor, int]:
        return to_tensor([view_image(self.records[row], self.view)], INPUT_SIZE, MEAN, STD)[0], row


def photo_batches(
    records: list[Record], rows: torch.Tensor, view: int, batch_size: int, workers: int, device: torch.device
):
    """(rows, photos) batches of `rows` in order, decoded by `workers` processes (0: this one)."""
    loader = torch.utils.data.DataLoader(
        Photos(records, view),
        batch_sampler=[rows[i : i + batch_size].tolist() for i in range(0, len(rows), batch_size)],
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    for x, batch_rows in loader:
        yield batch_rows, x


class PhotoRows:
    """The photos of some example rows as served, decoded once, indexed by example row like the cached tensors."""

    def __init__(self, records: list[Record], rows: torch.Tensor, workers: int, batch_size: int = 64) -> None:
        self.position = torch.full((len(records),), -1, dtype=torch.long)
        self.position[rows] = torch.arange(len(rows))
        self.photos = torch.cat([x for _, x in photo_batches(records, rows, 0, batch_size, workers, torch.device("cpu"))])

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        return self.photos[self.position[rows]]


@torch.no_grad()
def photo_pooled(model: FashionModel, records: list[Record], rows: torch.Tensor, batch_size: int, workers: int) -> torch.Tensor:
    """[len(rows), 2560] pooled features of the photos as served."""
    device = next(model.parameters()).device
    return torch.cat([
        model.pooled_photos(x.to(device)).float().cpu()
        for _, x in photo_batches(records, rows, 0, batch_size, workers, device)
    ])


def on_device(module, device: torch.device):
    """`module` run on `device` (in bf16 autocast on a GPU), its outputs in float32 for the losses."""
    amp = device.type == "cuda"

    def forward(x: torch.Tensor) -> dict:
        x = x.to(device, non_blocking=True, memory_format=torch.channels_last) if amp and x.dim() == 4 else x.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            return map_tensors(module(x), lambda t: t.float())

    return forward


def on_cpu(forward):
    """`forward` with its outputs moved to the CPU, where the validation labels are."""
    return lambda x: map_tensors(forward(x), lambda t: t.cpu())


def map_tensors(out, fn):
    if isinstance(out, dict):
        return {k: map_tensors(v, fn) for k, v in out.items()}
    return fn(out)


def summary(metrics: dict) -> str:
    parts = []
    for name, m in metrics.items():
        if "category" in m:
            parts.append(f"{name}: top1 {m['category']['top1']:.3f}")
        if "colour_head" in m:
            parts.append(f"{name} colour head: top1 {m['colour_head']['top1']:.3f}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    provenance = train(parse_args(argv))
    print(json.dumps(provenance["validation"], indent=2))


if __name__ == "__main__":
    main()
