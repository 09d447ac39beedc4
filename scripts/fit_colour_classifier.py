"""Fit the learned colour namer (handlers/colour_classifier.json) on the training split of labelled photos.

    python -m scripts.fit_colour_classifier ../shared/data/fashion-products [--out handlers/colour_classifier.json]

Each photo's descriptor (handlers/colour_classifier.describe) is read exactly as a request reads it, with the
fitted prototypes (so fit scripts.fit_colour_names first). Descriptors are cached under var/cache, keyed by the
code and prototypes that produce them. A softmax regression (torch, seeded, full batch) is fitted on the
training split only; the validation split is read only to report its top-1 in the written file's provenance.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from handlers.colour_classifier import CLASSIFIER_PATH, describe
from handlers.colours import PROTOTYPES_PATH, load_palette, named_clusters
from handlers.decoding import decode_image
from handlers.taxonomy import load_taxonomy
from kalas.dataset import Record, read_records, split

SEED = 0
WEIGHT_DECAY = 1e-2  # best of 1e-4..3e-2 on a held-out fifth of the training split
STEPS = 300
CACHE_DIR = Path("var/cache")
# What a descriptor depends on: a change to any of these makes the cache stale.
DESCRIPTOR_SOURCES = ("handlers/colours.py", "handlers/colour_classifier.py", "handlers/garment_mask.py",
                      "handlers/colour_space.py", "handlers/colour_prototypes.json")


def descriptors(records: list[Record], data_dir: Path, cache_dir: Path = CACHE_DIR) -> tuple[np.ndarray, list[str]]:
    """(descriptors [N, D], colour labels [N]) of the records with a colour label, cached under var/cache."""
    mapping = load_taxonomy().detect(records[0].labels.keys())
    if mapping.colour is None:
        raise ValueError(f"{data_dir}: its labels ({mapping.name}) have no colour column to fit on")
    labelled = [(r, mapping.annotate(r.labels).colour) for r in records]
    labelled = [(r, label) for r, label in labelled if label is not None]
    root = Path(__file__).resolve().parent.parent
    key = hashlib.sha256(b"".join((root / s).read_bytes() for s in DESCRIPTOR_SOURCES))
    key.update("\n".join(r.id for r, _ in labelled).encode())
    cache = cache_dir / f"colour_descriptors-{data_dir.name}-{key.hexdigest()[:16]}.npy"
    if cache.is_file():
        return np.load(cache), [label for _, label in labelled]
    palette = load_palette(PROTOTYPES_PATH)
    vocabulary = [c.name for c in load_taxonomy().colours]
    rows = []
    for record, _ in tqdm(labelled, desc="colour descriptors", unit="img"):
        clusters = named_clusters(decode_image(record.image.read_bytes()), 3, palette)
        rows.append(describe(*clusters, vocabulary))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.array(rows))
    return np.array(rows), [label for _, label in labelled]


def fit(features: np.ndarray, targets: np.ndarray, classes: int, seed: int = SEED) -> dict:
    """Softmax regression on standardised features: mean, scale, weights [D, C], bias [C]."""
    torch.manual_seed(seed)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-3
    x = torch.tensor((features - mean) / scale, dtype=torch.float32)
    y = torch.tensor(targets)
    linear = torch.nn.Linear(x.shape[1], classes)
    optimiser = torch.optim.LBFGS(linear.parameters(), max_iter=STEPS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + WEIGHT_DECAY * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return {"mean": mean, "scale": scale, "weights": linear.weight.detach().numpy().T, "bias": linear.bias.detach().numpy()}


def predict(model: dict, features: np.ndarray) -> np.ndarray:
    return (((features - model["mean"]) / model["scale"]) @ model["weights"] + model["bias"]).argmax(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="a directory in the shared-data layout with a colour column")
    parser.add_argument("--out", type=Path, default=CLASSIFIER_PATH)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where descriptors are cached")
    args = parser.parse_args(argv)
    train_records, val_records = split(read_records(args.data_dir))
    if not train_records:
        raise ValueError(f"{args.data_dir} has no training photos")
    colours = load_taxonomy().colours
    label_index = {c.label: i for i, c in enumerate(colours)}
    train_x, train_labels = descriptors(train_records, args.data_dir, args.cache_dir)
    model = fit(train_x, np.array([label_index[label] for label in train_labels]), len(colours))
    document = {
        "about": "Softmax regression naming the garment's dominant colour for handlers/colours.py "
                 "(descriptor: handlers/colour_classifier.describe).",
        "fitted_by": f"python -m scripts.fit_colour_classifier {args.data_dir.name}",
        "fitted_on": f"training split of {args.data_dir.name}: {len(train_labels)} photos with a colour label",
        "seed": SEED,
        "train_top1": round(float(np.mean(predict(model, train_x) == [label_index[l] for l in train_labels])), 4),
    }
    if val_records:
        val_x, val_labels = descriptors(val_records, args.data_dir, args.cache_dir)
        hits = predict(model, val_x) == [label_index[label] for label in val_labels]
        document["validation_top1"] = round(float(hits.mean()), 4)
        document["validation_photos"] = len(val_labels)
    document.update({
        "vocabulary": [c.name for c in colours],
        "names": [c.name for c in colours],
        **{key: np.round(model[key], 5).tolist() for key in ("mean", "scale", "weights", "bias")},
    })
    args.out.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in document.items() if not isinstance(v, list)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
