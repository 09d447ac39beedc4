"""Fit the colour-naming prototypes (handlers/colour_prototypes.json) on the training split of labelled photos.

    python -m scripts.fit_colour_names ../shared/data/fashion-products [--out handlers/colour_prototypes.json]

A photo's label names one colour, not which of its pixels carry it (a blue shirt on a model in jeans). So the
fit picks, in each training photo, the garment cluster nearest the label's reference hex, and then, for a few
rounds, the largest cluster that the palette built from the previous picks names as the label (photos where
none does are left out). The picks are the prototypes; handlers/colours.py names a colour by a vote of the
nearest `VOTES`. Validation photos are never read, so scripts/evaluate.py measures the result on unseen data.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from handlers.colour_space import ciede2000, kmeans
from handlers.colours import LIGHTNESS_WEIGHT, MIN_CLUSTERS, PROTOTYPES_PATH, Palette, garment_pixels
from handlers.decoding import decode_image
from handlers.taxonomy import load_taxonomy
from kalas.dataset import read_records, split

ROUNDS = 2
VOTES = 15
# Enough prototypes for every colour's spread; more only slow the naming of each request down.
MAX_PROTOTYPES = 3000


def garment_clusters(data_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(colour label, cluster centres, cluster sizes) for every training photo with a colour label."""
    records, _ = split(read_records(data_dir))
    if not records:
        raise ValueError(f"{data_dir} has no training photos")
    mapping = load_taxonomy().detect(records[0].labels.keys())
    if mapping.colour is None:
        raise ValueError(f"{data_dir}: its labels ({mapping.name}) have no colour column to fit on")
    clusters = []
    for record in tqdm(records, desc="garment colours", unit="img"):
        label = mapping.annotate(record.labels).colour
        if label is not None:
            pixels, weights = garment_pixels(decode_image(record.image.read_bytes()))
            centres, _ = kmeans(pixels, MIN_CLUSTERS)
            owner = np.linalg.norm(pixels[:, None, :] - centres[None, :, :], axis=2).argmin(axis=1)
            clusters.append((label, centres, np.bincount(owner, weights=weights, minlength=len(centres))))
    return clusters


def fit(clusters: list[tuple[str, np.ndarray, np.ndarray]], rounds: int = ROUNDS) -> tuple[list[str], np.ndarray]:
    """(labels, Lab prototypes [N, 3]): one garment colour per usable training photo, MAX_PROTOTYPES at most."""
    vocabulary = load_taxonomy().colours
    reference = Palette.from_pairs([(c.label, c.hex) for c in vocabulary])
    reference_lab = dict(zip(reference.names, reference.lab))
    labels = [label for label, _, _ in clusters]
    picks = [centres[ciede2000(centres, reference_lab[label], LIGHTNESS_WEIGHT).argmin()] for label, centres, _ in clusters]
    for _ in range(rounds):
        palette = reference.plus(labels, np.array(picks), VOTES)
        labels, picks = [], []
        for label, centres, counts in clusters:
            named = np.array(palette.nearest(centres)) == label
            if named.any():
                labels.append(label)
                picks.append(centres[named][counts[named].argmax()])
    # An even stride keeps each colour's share of the prototypes, so the vote keeps the colours' frequencies.
    keep = np.linspace(0, len(labels) - 1, min(len(labels), MAX_PROTOTYPES)).round().astype(int)
    return [labels[i] for i in keep], np.array(picks)[keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="a directory in the shared-data layout with a colour column")
    parser.add_argument("--out", type=Path, default=PROTOTYPES_PATH)
    args = parser.parse_args(argv)
    clusters = garment_clusters(args.data_dir)
    labels, lab = fit(clusters)
    document = {
        "about": "Colour-naming prototypes (CIELAB, D65) for handlers/colours.py; each label is a taxonomy colour.",
        "fitted_by": f"python -m scripts.fit_colour_names {args.data_dir.name}",
        "fitted_on": f"training split of {args.data_dir.name}: {len(clusters)} photos with a colour label",
        "votes": VOTES,
        "labels": labels,
        "lab": [[round(float(v), 1) for v in row] for row in lab],
    }
    args.out.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(labels)} prototypes for {len(set(labels))} colours to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
