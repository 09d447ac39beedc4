"""Scores that mean what they say: temperature scaling, and how well a score separates right from wrong.

- `fit_temperature(logits, targets)`: the one temperature T that minimises the negative log-likelihood of
  softmax(logits / T) (Guo et al., 2017). A target is a set of acceptable classes (a coarse label accepts every
  leaf under it); its probability is their sum.
- `expected_calibration_error(confidence, correct)`: the gap between confidence and accuracy, averaged over
  equal-width bins weighted by how many answers fall in each; `reliability(...)` gives the bins themselves.
- `risk_coverage(confidence, correct)`: the accuracy of what is kept against the fraction kept, when answers
  are kept from the most confident down.
- `threshold_for(confidence, correct, precision)`: the lowest confidence at which what is kept is at least
  `precision` right — the rule a tagging policy applies.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

BINS = 15


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def _acceptable_mask(targets: Sequence[Sequence[int]], classes: int) -> np.ndarray:
    mask = np.zeros((len(targets), classes), dtype=bool)
    for row, accepted in enumerate(targets):
        mask[row, list(accepted)] = True
    return mask


def nll(logits: np.ndarray, targets: Sequence[Sequence[int]], temperature: float) -> float:
    probabilities = softmax(logits, temperature)
    right = (probabilities * _acceptable_mask(targets, logits.shape[1])).sum(axis=1)
    return float(-np.log(np.clip(right, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, targets: Sequence[Sequence[int]]) -> float:
    """The temperature in [0.05, 20] minimising the NLL: a coarse grid in log space, then golden-section search
    around its best point (the NLL is smooth and unimodal in log T)."""
    if len(targets) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 41))
    losses = [nll(logits, targets, t) for t in grid]
    best = int(np.argmin(losses))
    low, high = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if nll(logits, targets, float(np.exp(a))) < nll(logits, targets, float(np.exp(b))):
            high = b
        else:
            low = a
    return round(float(np.exp((low + high) / 2)), 4)


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> list[dict]:
    """Per equal-width confidence bin: how many answers, their mean confidence, their accuracy."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return [{"low": round(float(edges[b]), 4), "high": round(float(edges[b + 1]), 4), "count": int((which == b).sum()),
             "confidence": round(float(confidence[which == b].mean()), 4) if (which == b).any() else None,
             "accuracy": round(float(correct[which == b].mean()), 4) if (which == b).any() else None}
            for b in range(bins)]


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float:
    total = len(confidence)
    if not total:
        return 0.0
    return round(sum(b["count"] / total * abs(b["confidence"] - b["accuracy"])
                     for b in reliability(confidence, correct, bins) if b["count"]), 4)


def risk_coverage(confidence: Sequence[float], correct: Sequence[bool], points: int = 20) -> list[dict]:
    """`{threshold, coverage, accuracy}` for the answers kept at or above each of `points` thresholds, taken at
    evenly spaced coverages (the most confident 5%, 10%, … 100%)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    if not len(confidence):
        return []
    order = np.argsort(-confidence, kind="stable")
    right = np.cumsum(correct[order])
    curve = []
    for step in range(1, points + 1):
        kept = max(1, round(len(order) * step / points))
        threshold = float(confidence[order[kept - 1]])
        kept = int((confidence >= threshold).sum())  # ties at the threshold are kept together
        curve.append({"threshold": round(threshold, 6), "coverage": round(kept / len(order), 4),
                      "accuracy": round(float(right[kept - 1] / kept), 4)})
    return curve


def threshold_for(confidence: Sequence[float], correct: Sequence[bool], precision: float) -> float:
    """The lowest threshold keeping answers at least `precision` right (kept: confidence ≥ threshold); above 1
    (nothing kept) when even the most confident answers miss it."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    order = np.argsort(-confidence, kind="stable")
    accuracy = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    best = None
    for position in range(len(order)):
        if position + 1 < len(order) and confidence[order[position + 1]] == confidence[order[position]]:
            continue  # a threshold keeps every answer of its score, so only the last of a tie counts
        if accuracy[position] >= precision:
            best = position
    return 1.01 if best is None else round(float(confidence[order[best]]), 6)


def in_calibration_half(image_id: str) -> bool:
    """Half of the validation photos, by a hash of their id (independent of the train/validation split's): the
    temperatures and thresholds are fitted on this half, and held-out figures are read on the other."""
    digest = hashlib.sha256(f"{image_id}|calibration".encode("utf-8")).digest()
    return digest[0] < 128
