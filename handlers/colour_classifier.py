"""A learned namer for the garment's dominant colour, over a descriptor of the garment's own pixels.

Why learned: what shops call a colour is a convention, not a distance. Nearest-prototype naming of one cluster
(handlers/colours.py) cannot weigh the whole garment: a print's ground against its motif, a collar, a model's
jeans at the edge of the frame. A softmax over a centre-weighted Lab histogram of the garment's pixels, the
largest clusters' Lab values, the prototype naming's own shares and a histogram of the frame's central box
learns those conventions from labelled photos.

Per request it costs one histogram of the few thousand pixels already extracted and one small matrix product.
The weights (`colour_classifier.json`, written by scripts/fit_colour_classifier.py on the training split only)
are plain numbers: the handler needs neither torch nor a checkpoint for them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

CLASSIFIER_PATH = Path(__file__).with_name("colour_classifier.json")
# Coarse Lab bins: lightness in 5 bands, a and b in 7 each over ±60 (garment chroma beyond that is rare and clipped).
HISTOGRAM_BINS = (5, 7, 7)
HISTOGRAM_RANGE = ((0.0, 100.0), (-60.0, 60.0), (-60.0, 60.0))
# The largest clusters, by weighted share, whose Lab values and shares join the descriptor.
TOP_CLUSTERS = 3


def describe(
    frame: np.ndarray,
    mask: np.ndarray,
    weights: np.ndarray,
    centres: np.ndarray,
    counts: np.ndarray,
    names: Sequence[str],
    vocabulary: Sequence[str],
) -> np.ndarray:
    """The descriptor [D] of one garment (see handlers/colours.named_clusters for the arguments).

    The central box's histogram, mask or not, tells the classifier what the mask may have missed: a white shirt
    on a white background leaves the mask with the model's jeans.
    """
    height, width = mask.shape
    centre = frame[height // 4 : height - height // 4, width // 4 : width - width // 4].reshape(-1, 3)
    shares = counts / counts.sum()
    order = np.argsort(-shares)[:TOP_CLUSTERS]
    top = np.zeros((TOP_CLUSTERS, 4))
    top[: len(order), :3] = centres[order] / 100.0
    top[: len(order), 3] = shares[order]
    named = np.zeros(len(vocabulary))
    index = {name: i for i, name in enumerate(vocabulary)}
    for name, share in zip(names, shares):
        named[index[name]] += share
    return np.concatenate(
        [_histogram(frame[mask], weights), top.ravel(), named, _histogram(centre, np.ones(len(centre))), [mask.mean()]]
    )


def descriptor_size(vocabulary: Sequence[str]) -> int:
    return 2 * int(np.prod(HISTOGRAM_BINS)) + 4 * TOP_CLUSTERS + len(vocabulary) + 1


def _histogram(pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Square roots of the weighted shares of Lab `pixels` [N, 3] in the coarse bins (roots: small shares matter)."""
    clipped = np.column_stack([np.clip(pixels[:, i], low, high - 1e-6) for i, (low, high) in enumerate(HISTOGRAM_RANGE)])
    histogram, _ = np.histogramdd(clipped, bins=HISTOGRAM_BINS, range=HISTOGRAM_RANGE, weights=weights)
    return np.sqrt(histogram.ravel() / max(float(weights.sum()), 1e-12))


@dataclass(frozen=True)
class ColourClassifier:
    """Softmax regression over standardised descriptors; `names` are the taxonomy's colour names."""

    names: tuple[str, ...]
    vocabulary: tuple[str, ...]  # the taxonomy's colour names, in the order of the descriptor's naming shares
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # [D, C]
    bias: np.ndarray  # [C]

    def name(self, descriptor: np.ndarray, prior: np.ndarray | None = None) -> str:
        """The colour name of a descriptor from `describe` (with this classifier's `vocabulary`).

        `prior`: log-probabilities over `vocabulary` from another witness (the model's colour head, which sees
        the garment's shape and context where this descriptor sees only its pixels); the name then maximises
        the sum of both log-probabilities, as a product of two independent experts would.
        """
        logits = ((descriptor - self.mean) / self.scale) @ self.weights + self.bias
        if prior is None:
            return self.names[int(np.argmax(logits))]
        scores = dict(zip(self.vocabulary, prior))
        log_probabilities = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        return self.names[int(np.argmax([lp + scores[n] for lp, n in zip(log_probabilities, self.names)]))]


def load_classifier(path: Path) -> ColourClassifier:
    """The classifier in `path`, checked against the taxonomy's colour names and the descriptor's size."""
    from handlers.taxonomy import load_taxonomy  # imported late, as in handlers/colours.py

    document = json.loads(path.read_text(encoding="utf-8"))
    vocabulary = [c.name for c in load_taxonomy().colours]
    unknown = sorted(set(document["names"]) - set(vocabulary))
    if unknown or document["vocabulary"] != vocabulary:
        raise ValueError(
            f"{path.name} was fitted for another colour vocabulary (unknown names: {unknown}); "
            "refit it with scripts/fit_colour_classifier.py after changing the vocabulary"
        )
    classifier = ColourClassifier(
        names=tuple(document["names"]),
        vocabulary=tuple(vocabulary),
        mean=np.array(document["mean"]),
        scale=np.array(document["scale"]),
        weights=np.array(document["weights"]),
        bias=np.array(document["bias"]),
    )
    expected = descriptor_size(vocabulary)
    if classifier.weights.shape != (expected, len(classifier.names)) or classifier.mean.shape != (expected,):
        raise ValueError(f"{path.name} has weights {classifier.weights.shape}; the descriptor has {expected} values")
    return classifier


@lru_cache(maxsize=1)
def default_classifier() -> ColourClassifier | None:
    """The committed classifier, or None when there is none (the prototype naming is then used alone)."""
    return load_classifier(CLASSIFIER_PATH) if CLASSIFIER_PATH.is_file() else None
