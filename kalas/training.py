"""A training run: the data read, the model assembled, the epochs trained (resumable), the checkpoint written.

`args` are scripts/train.py's command-line arguments (its docstring describes every option). The model's training
side (proxies, losses, optimiser) is kalas/trainer.py's, its inputs kalas/training_inputs.py's.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from handlers.archive import file_sha256
from handlers.models import build_model, save_fashion_model
from handlers.models.efficientnet_lite import FEATURE_DIM, backbone_named
from handlers.models.fashion import WEIGHTS_FILE, WHOLE, FashionModel, load_fashion_model, texture_head
from handlers.taxonomy import Taxonomy, load_taxonomy
from kalas.distillation import teacher_logits
from kalas.provenance import git_commit, portable_path
from kalas.trainer import EMBEDDING_DIM, Trainer, freeze_batch_norm
from kalas.training_data import label_space, node_labels, read_examples, split_examples
from kalas.training_inputs import cached_batches, on_cpu, on_device, photo_batches, training_pooled, training_views
from kalas.training_metrics import validate


def train(args: argparse.Namespace) -> dict:
    """Train as `args` ask and write the checkpoint to `args.out / args.name`; returns its provenance (or, when
    `--stop-after` stops it early, {"stopped_after", "validation"})."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    taxonomy = load_taxonomy()
    examples, kinds = read_examples(args.data_dirs, taxonomy)
    train_index, val_index = split_examples(examples)
    if not len(train_index) or not len(val_index):
        raise SystemExit(f"{len(examples.records)} labelled photos gave {len(train_index)} to train on and "
                         f"{len(val_index)} to validate on (kalas/dataset.py holds out about 15% by a hash of the "
                         "photo's id): train on more photos")
    space = label_space(taxonomy)
    colours = [c.label for c in taxonomy.colours] if args.colour_head_weight else []
    if args.teacher is not None:
        # beside the features' cache: var/cache/served by default, where the benchmarks keep the served outputs
        examples.teacher = teacher_logits(args.teacher, examples, args.data_dirs, space, colours,
                                          root=args.cache_dir.parent / "served", progress=not args.no_progress)
    weights_sha = file_sha256(backbone_named(args.backbone).weights_path())
    model, init_meta, init_sha = assemble_model(args, space, colours, weights_sha)

    features_sha = weights_sha
    if init_meta is not None and init_meta["tune_from"] < model.cache_block:
        # The cached blocks are that checkpoint's, not ImageNet's: their features are cached apart.
        features_sha = hashlib.sha256(f"{weights_sha}+{init_sha}".encode()).hexdigest()
    device = torch.device(args.device)
    frozen, whole = model.heads_only, args.tune_from == WHOLE
    views, module = training_views(model, examples, train_index, val_index, features_sha, args)
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
            batches = photo_batches(examples.records, order, 1 + args.seed * 10_000 + epoch, model.input_size,
                                    args.batch_size, args.workers, device)
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
    if args.instance_dim and not getattr(args, "new_heads_only", False):
        pooled = training_pooled(model, inputs, examples, train_index, args)
        model.heads.fit_instance_projection(pooled[:, :FEATURE_DIM].float())
        if history:  # the retrieval figure changes with the instance part: score the model as saved
            history[-1]["validation"] = score()
    data = [
        {
            "dir": portable_path(d),
            "kind": kind,
            "train": int((examples.source[train_index] == i).sum()),
            "validation": int((examples.source[val_index] == i).sum()),
        }
        for i, (d, kind) in enumerate(zip(args.data_dirs, kinds))
    ]
    init = ({"checkpoint": portable_path(args.init), "heads_sha256": init_sha, "tune_from": init_meta["tune_from"]}
            if init_meta is not None else None)
    teacher = ({"checkpoint": portable_path(args.teacher), "heads_sha256": file_sha256(args.teacher / WEIGHTS_FILE),
                "heads": sorted(examples.teacher), "weight": args.distill_weight,
                "temperature": args.distill_temperature} if args.teacher is not None else None)
    return write_checkpoint(model, args, taxonomy, weights_sha, colours, data=data, init=init, history=history,
                            started=started, teacher=teacher)


def assemble_model(args: argparse.Namespace, space: dict, colours: list[str],
                   weights_sha: str) -> tuple[FashionModel, dict | None, str | None]:
    """(model, its --init checkpoint's meta, that checkpoint's weights' sha256): ImageNet's `--backbone` with new
    heads, or the `--init` checkpoint's network (the two Nones without --init)."""
    init_meta = init_sha = None
    if args.init is None:
        model = build_model(
            space["categories"], space["attributes"], embedding_dim=EMBEDDING_DIM, instance_dim=args.instance_dim,
            instance_weight=args.instance_weight, tune_from=args.tune_from, colours=len(colours),
            texture_groups=tuple(g for g in space["attributes"] if g in args.texture_groups),
            backbone=args.backbone, input_size=args.input_size,
        )
    else:
        model, init_meta = start_from(args.init, {**space, "colours": colours, "backbone_sha256": weights_sha}, args)
        init_sha = file_sha256(args.init / WEIGHTS_FILE)
    return model, init_meta, init_sha


def write_checkpoint(model: FashionModel, args: argparse.Namespace, taxonomy: Taxonomy, weights_sha: str,
                     colours: list[str], *, data: list[dict], init: dict | None, history: list[dict],
                     started: float, teacher: dict | None = None) -> dict:
    """heads.pt, meta.json, labels.json and provenance.json in `args.out / args.name`; returns the provenance.
    `data` is each directory's rows, `init` the --init checkpoint's, `teacher` the --teacher's, `started` when the
    epochs began."""
    space = label_space(taxonomy)
    out_dir = args.out / args.name
    meta = {
        "name": args.name,
        "backbone_sha256": weights_sha,  # save_fashion_model adds the backbone's name and the input size
        **space,
        "embedding_dim": EMBEDDING_DIM,
        "instance_dim": args.instance_dim,
        "instance_weight": args.instance_weight,
        "texture_groups": sorted(model.heads.texture),
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
        **({"init": init} if init is not None else {}),
        **({"teacher": teacher} if teacher is not None else {}),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "data": data,
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
        "backbone": args.backbone,
        "input_size": args.input_size,
        "tune_from": args.tune_from,
        "views": args.views,
        "instance_dim": args.instance_dim,
        "instance_weight": args.instance_weight,
        "texture_groups": args.texture_groups,
        "label_smoothing": args.label_smoothing,
        "train_batch_norm": args.train_batch_norm,
        **({"init": str(args.init.resolve())} if args.init else {}),
        **({"teacher": str(args.teacher.resolve()), "distill_weight": args.distill_weight,
            "distill_temperature": args.distill_temperature} if args.teacher else {}),
        **({"repeat": args.repeat} if any(times > 1 for times in args.repeat) else {}),
    }


def start_from(checkpoint: Path, expected: dict, args: argparse.Namespace) -> tuple[FashionModel, dict]:
    """The model of `checkpoint` to train on, `args.tune_from` on trainable; SystemExit when its meta.json
    differs from `expected` (label space, colours, backbone weights) or from this run's embedding."""
    try:
        model, meta = load_fashion_model(checkpoint)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"--init: {error}") from None
    args.new_groups = [group for group in expected["attributes"] if group not in meta["attributes"]]
    if args.new_groups:
        # Attribute groups the taxonomy gained since that checkpoint: a fresh head each, the rest as trained.
        for group in args.new_groups:
            size = len(expected["attributes"][group])
            if group in args.texture_groups:
                model.heads.texture[group] = texture_head(size, model.heads.texture_channels)
            else:
                model.heads.attributes[group] = torch.nn.Linear(model.heads.category.in_features, size)
        meta = {**meta, "attributes": {**meta["attributes"],
                                       **{group: expected["attributes"][group] for group in args.new_groups}},
                "texture_groups": [*meta.get("texture_groups", []),
                                   *[group for group in args.new_groups if group in args.texture_groups]]}
    elif args.new_heads_only:
        raise SystemExit(f"--new-heads-only: {checkpoint} already has a head for every attribute group of the taxonomy")
    wanted = {**expected, "embedding_dim": EMBEDDING_DIM, "instance_dim": args.instance_dim,
              "texture_groups": [g for g in expected["attributes"] if g in args.texture_groups]}
    found = {**meta, "instance_dim": meta.get("instance_dim", 0), "colours": meta.get("colours", []),
             "texture_groups": [g for g in meta["attributes"] if g in meta.get("texture_groups", [])]}
    differ = [key for key, value in wanted.items() if found.get(key) != value]
    if differ:
        raise SystemExit(
            f"--init: {checkpoint} does not fit this run: its {', '.join(differ)} differ (a changed taxonomy or "
            "backbone package, or another --instance-dim or --colour-head-weight): match them, or train without --init"
        )
    model.heads.instance_weight = args.instance_weight
    return FashionModel(model.backbone, model.heads, args.tune_from, stored_from=meta["tune_from"],
                        input_size=model.input_size), meta


def summary(metrics: dict) -> str:
    parts = []
    for name, m in metrics.items():
        if "category" in m:
            parts.append(f"{name}: top1 {m['category']['top1']:.3f}")
        if "colour_head" in m:
            parts.append(f"{name} colour head: top1 {m['colour_head']['top1']:.3f}")
    return " ".join(parts)
