"""Scores that mean what they say: temperature scaling, and how well a score separates right from wrong.

- `fit_temperature(logits, targets)`: the one temperature T that minimises the negative log-likelihood of
  softmax(logits / T) (Guo et al., 2017). A target is a set of acceptable classes (a coarse label accepts every
  leaf under it); its probability is their sum.
- `fit_weights(parts, targets)`: several experts' log-probabilities pooled as softmax(Σ w_i · part_i), the
  weights minimising the same negative log-likelihood (a temperature per expert: a log-linear pool).
- `fit_top_scaling(probabilities, claims, correct)`: a second step after the temperature (Platt scaling of the
  top answer's log-odds, the rest of the distribution rescaled to keep it summing to 1), fitted on the claims the
  labels can check: a label coarser than the model's leaves ("Shoes") checks the top leaf's group, whose score is
  its leaves' together, not the leaf's own.
- `expected_calibration_error(confidence, correct)`: the gap between confidence and accuracy, averaged over
  equal-width bins weighted by how many answers fall in each; `reliability(...)` gives the bins themselves;
  `ece_noise(confidence)`: what a perfectly calibrated model with these scores would measure on so few answers.
- `risk_coverage(confidence, correct)`: the accuracy of what is kept against the fraction kept, when answers
  are kept from the most confident down.
- `threshold_for(confidence, correct, precision, level=...)`: the lowest confidence at which what is kept is at
  least `precision` right — with `level`, right with that confidence on new answers (`precision_lower_bound`: the
  kept answers' one-sided Clopper–Pearson or Wilson bound); `Rule`: which, as the calibration picks a tagging
  policy's thresholds (`SHIPPED_RULE`: 95% Clopper–Pearson).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.stats import beta, norm

BINS = 15
NEVER = 1.01  # a threshold no score reaches: nothing is applied at it
# How the category's ECE is measured, as the evaluation's and the calibration's reports say it.
ECE_MEASURED = ("the score of what each photo's label checks of the top answer (the top leaf; the group when the "
                "data set's label is that group, e.g. clothing's Shoes, Pants, Hat and fashion-products' Tshirts, "
                "Tops), against whether it is right; 15 equal-width bins; ece_noise: the mean ECE of a perfectly "
                "calibrated model with the same scores on as many photos")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def _acceptable_mask(targets: Sequence[Sequence[int]], classes: int) -> np.ndarray:
    """[N, classes] bool, True at the classes each row accepts. Built once per fit, never inside an objective: a
    shop's tags make a row per (product, tag), and a Python loop over 200,000 of them at every step of a
    temperature's search took most of a training (docs/benchmarks.md, "Many tags")."""
    lengths = np.fromiter((len(accepted) for accepted in targets), dtype=np.int64, count=len(targets))
    mask = np.zeros((len(targets), classes), dtype=bool)
    columns = np.fromiter((c for accepted in targets for c in accepted), dtype=np.int64, count=int(lengths.sum()))
    mask[np.repeat(np.arange(len(targets)), lengths), columns] = True
    return mask


def top_scaled(probabilities: np.ndarray, slope: float, bias: float) -> np.ndarray:
    """Each row's top probability p mapped to sigmoid(slope · logit(p) + bias), the other classes scaled by one
    factor so that the row still sums to 1 (their order, and the top class, unchanged while slope > 0)."""
    rows = np.arange(len(probabilities))
    best = probabilities.argmax(axis=1)
    top = np.clip(probabilities[rows, best], 1e-7, 1 - 1e-7)
    scaled = 1 / (1 + np.exp(-(slope * np.log(top / (1 - top)) + bias)))
    out = probabilities * ((1 - scaled) / (1 - top))[:, None]
    out[rows, best] = scaled
    return out


def claim_confidence(probabilities: np.ndarray, claims: Sequence[Sequence[int]]) -> np.ndarray:
    """Per row, the probability of its claim: the classes in `claims[row]` together (the top class and, for a
    coarse label, the rest of the group the label checks)."""
    return _claimed(probabilities, _acceptable_mask(claims, probabilities.shape[1]))


def _claimed(probabilities: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Per row, the probability of the classes its mask accepts."""
    return (probabilities * accepted).sum(axis=1)


def fit_top_scaling(probabilities: np.ndarray, claims: Sequence[Sequence[int]],
                    correct: Sequence[bool]) -> tuple[float, float]:
    """(slope, bias) of `top_scaled` minimising the negative log-likelihood of the claims' rightness, slope in
    [0.2, 5] (so that the ranking never flips) and bias in [-4, 4]: scipy's bounded L-BFGS-B from the identity,
    (1, 0), which is also the answer without photos."""
    correct = np.asarray(correct, dtype=bool)
    if not len(correct):
        return 1.0, 0.0
    probabilities = np.asarray(probabilities, dtype=np.float64)  # float32 would hide the finite-difference gradient
    claimed = _acceptable_mask(claims, probabilities.shape[1])

    def loss(point: np.ndarray) -> float:
        log_slope, bias = point
        scaled = top_scaled(probabilities, float(np.exp(log_slope)), float(bias))
        confidence = np.clip(_claimed(scaled, claimed), 1e-7, 1 - 1e-7)
        return float(-np.where(correct, np.log(confidence), np.log(1 - confidence)).mean())

    found = minimize(loss, np.zeros(2), method="L-BFGS-B", bounds=[(np.log(0.2), np.log(5.0)), (-4.0, 4.0)])
    return round(float(np.exp(found.x[0])), 4), round(float(found.x[1]), 4)


def nll(logits: np.ndarray, accepted: np.ndarray, temperature: float) -> float:
    """The mean negative log-likelihood of the accepted classes (`_acceptable_mask`) under softmax(logits / T)."""
    right = _claimed(softmax(logits, temperature), accepted)
    return float(-np.log(np.clip(right, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, targets: Sequence[Sequence[int]]) -> float:
    """The temperature in [0.05, 20] minimising the NLL: a coarse grid in log space (which also finds a bound when
    the loss only falls towards it, flat to the last digit), then scipy's bounded scalar search between the best
    point's neighbours."""
    if len(targets) == 0:
        return 1.0
    accepted = _acceptable_mask(targets, logits.shape[1])
    grid = np.linspace(np.log(0.05), np.log(20.0), 41)
    best = int(np.argmin([nll(logits, accepted, float(np.exp(t))) for t in grid]))
    found = minimize_scalar(lambda log_t: nll(logits, accepted, float(np.exp(log_t))), method="bounded",
                            bounds=(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]), options={"xatol": 1e-5})
    return round(float(np.exp(found.x)), 4)


def fit_weights(parts: Sequence[np.ndarray], targets: Sequence[Sequence[int]], upper: float = 20.0
                ) -> tuple[float, ...]:
    """The weights w_i in [0.01, `upper`] minimising the NLL of softmax(Σ w_i · parts_i): each part an expert's
    [N, C] log-probabilities (or logits) for the same N answers, pooled log-linearly. With one part it is one over
    a temperature; `upper` 1 lets the pool soften each expert and never sharpen it. Found by L-BFGS-B over the
    weights' logarithms, from all weights 1."""
    if len(targets) == 0:
        return (1.0,) * len(parts)
    stacked = np.stack([np.asarray(part, dtype=np.float64) for part in parts])  # [k, N, C]
    accepted = _acceptable_mask(targets, stacked.shape[2])
    bounds = [(np.log(0.01), np.log(upper))] * len(parts)
    found = minimize(lambda log_weights: nll(np.tensordot(np.exp(log_weights), stacked, axes=1), accepted, 1.0),
                     np.zeros(len(parts)), method="L-BFGS-B", bounds=bounds)
    return tuple(round(float(np.exp(x)), 4) for x in found.x)


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


def ece_noise(confidence: Sequence[float], bins: int = BINS, draws: int = 200, seed: int = 0) -> float:
    """The mean ECE of a perfectly calibrated model with these scores (each answer right with the probability its
    score says, drawn `draws` times, seeded): the error that so few answers measure by chance alone. An ECE near
    it says nothing more than "calibrated within what this many photos can tell"."""
    confidence = np.asarray(confidence, dtype=float)
    if not len(confidence):
        return 0.0
    rng = np.random.default_rng(seed)
    return round(float(np.mean([expected_calibration_error(confidence, rng.random(len(confidence)) < confidence, bins)
                                for _ in range(draws)])), 4)


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


BOUNDS = ("clopper-pearson", "wilson")


def precision_lower_bound(right: np.ndarray | int, kept: np.ndarray | int, level: float | None,
                          method: str = "clopper-pearson") -> np.ndarray:
    """The one-sided lower confidence bound at `level` on the precision of `kept` answers of which `right` are
    right: below it with probability 1 - level. Clopper–Pearson (exact: the beta quantile, scipy's
    `binomtest(...).proportion_ci(method="exact")` one-sided) or the Wilson score bound; `level` None: the
    observed share itself."""
    right, kept = np.asarray(right, dtype=float), np.asarray(kept, dtype=float)
    if level is None:
        return right / kept
    if method == "clopper-pearson":
        return np.where(right > 0, beta.ppf(1 - level, np.maximum(right, 1e-12), kept - right + 1), 0.0)
    if method == "wilson":
        z, share = norm.ppf(level), right / kept
        centre, spread = share + z ** 2 / (2 * kept), z * np.sqrt(share * (1 - share) / kept + z ** 2 / (4 * kept ** 2))
        return (centre - spread) / (1 + z ** 2 / kept)
    raise ValueError(f"unknown bound {method!r}: use one of {', '.join(BOUNDS)}")


def threshold_for(confidence: Sequence[float], correct: Sequence[bool], precision: float, *,
                  level: float | None = None, method: str = "clopper-pearson") -> float:
    """The lowest threshold keeping answers at least `precision` right (kept: confidence ≥ threshold); with
    `level`, the lowest whose kept answers' lower bound on precision (`precision_lower_bound`) reaches it, so that
    new answers kept at that threshold are `precision` right with that confidence, not just these ones. Above 1
    (nothing kept) when even the most confident answers miss it."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    order = np.argsort(-confidence, kind="stable")
    accuracy = precision_lower_bound(np.cumsum(correct[order]), np.arange(1, len(order) + 1), level, method)
    best = None
    for position in range(len(order)):
        if position + 1 < len(order) and confidence[order[position + 1]] == confidence[order[position]]:
            continue  # a threshold keeps every answer of its score, so only the last of a tie counts
        if accuracy[position] >= precision:
            best = position
    return NEVER if best is None else round(float(confidence[order[best]]), 6)


@dataclass(frozen=True)
class Rule:
    """How a tagging policy's threshold is picked from the fitting photos: the lowest score whose kept photos reach
    the target plus `margin` — as their `bound`'s one-sided lower confidence bound at `level` on precision
    (`precision_lower_bound`), or as observed (`level` None). The shipped rule (`SHIPPED_RULE`): the 95%
    Clopper–Pearson bound reaches the target, so that new photos like the fitting ones are the target right with
    95% confidence (docs/model_card.md, "Thresholds that hold on new photos")."""

    level: float | None = 0.95
    bound: str = "clopper-pearson"
    margin: float = 0.0

    def threshold(self, confidence: np.ndarray, right: np.ndarray, target: float) -> float:
        return threshold_for(confidence, right, min(target + self.margin, 1.0), level=self.level, method=self.bound)

    def holds(self, right: np.ndarray, target: float) -> bool:
        return bool(precision_lower_bound(right.sum(), len(right), self.level, self.bound) >= target + self.margin)

    def describe(self) -> dict:
        said = "as observed" if self.level is None else f"one-sided {self.level:.0%} {self.bound} lower bound"
        return {"bound": self.bound if self.level is not None else None, "level": self.level, "margin": self.margin,
                "rule": f"the lowest score whose kept photos' precision ({said}) reaches the target"
                        + (f" + {self.margin}" if self.margin else "")}


SHIPPED_RULE = Rule()


# The cross-fitted figures' parts: each part of the validation photos is scored by the fit made on the others. Five,
# chosen before any figure of it was read (the common choice; each fit then has four fifths of the photos, where the
# shipped fit has them all). Two, halves, before 2026-12-07.
CROSS_FIT_FOLDS = 5


def calibration_fold(image_id: str, folds: int = CROSS_FIT_FOLDS) -> int:
    """Which of `folds` parts of the validation photos a photo is in, by a hash of its id (independent of the
    train/validation split's): the calibration's figures are cross-fitted over the parts (scripts/calibrate.py).
    With two, part 0 is the half that the figures before 2026-12-07 fitted first (their "calibration half")."""
    digest = hashlib.sha256(f"{image_id}|calibration".encode("utf-8")).digest()
    return digest[0] * folds // 256
