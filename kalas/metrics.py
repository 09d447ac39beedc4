"""Evaluation metrics as pure functions over truths and ranked predictions (scripts/evaluate.py feeds them).

Standard figures: top-1 and top-k accuracy, per class and macro (the mean over the classes present, so the
long tail counts as much as the head). MMFashion's own figures are computed beside them the way its
evaluation code does, because its published numbers use them and they are not comparable to accuracy:
- category "recall": per-class top-k recall averaged over the classes present (mmfashion CateCalculator);
- attribute "top-k recall": every attribute value is one binary label; a value is recalled in an image when
  it is among the image's k best-scored values; per-value recall tp / (tp + fn), and the mean of the
  `best` highest recalls (mmfashion's Calculator averages its 50 best of 1,000 attributes);
- attribute "accuracy": (tp + tn) / images averaged over values, dominated by true negatives.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable, Sequence

Matches = Callable[[str, str], bool]


def _exact(predicted: str, truth: str) -> bool:
    return predicted == truth


def ranked_accuracy(
    truths: Sequence[str], rankings: Sequence[Sequence[str]], k: int = 5, matches: Matches = _exact
) -> dict:
    """Top-1 and top-k accuracy of rankings (best first) against truths, overall, per class and macro.

    `matches(predicted, truth)` says whether a prediction is right (for a taxonomy: the truth is the predicted
    leaf or one of its groups). Returns {"count", "top1", f"top{k}", "macro_top1", f"macro_top{k}",
    "per_class": {truth: {"count", "top1", f"top{k}"}}}; figures are None when there is nothing to score.
    """
    if len(truths) != len(rankings):
        raise ValueError(f"{len(truths)} truths but {len(rankings)} predictions: they must pair up")
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for truth, ranking in zip(truths, rankings):
        first = bool(ranking) and matches(ranking[0], truth)
        hits[truth].append((first, any(matches(p, truth) for p in ranking[:k])))
    per_class = {
        truth: {"count": len(rows), "top1": _mean(r[0] for r in rows), f"top{k}": _mean(r[1] for r in rows)}
        for truth, rows in sorted(hits.items(), key=lambda item: (-len(item[1]), item[0]))
    }
    everything = [row for rows in hits.values() for row in rows]
    return {
        "count": len(everything),
        "top1": _mean(r[0] for r in everything),
        f"top{k}": _mean(r[1] for r in everything),
        "macro_top1": _mean(c["top1"] for c in per_class.values()),
        f"macro_top{k}": _mean(c[f"top{k}"] for c in per_class.values()),
        "per_class": per_class,
    }


def mmfashion_category_recall(
    truths: Sequence[str], rankings: Sequence[Sequence[str]], ks: Sequence[int] = (1, 3, 5), matches: Matches = _exact
) -> dict:
    """{f"top{k}": per-class top-k recall averaged over the classes present}, as MMFashion reports categories."""
    recalls = {}
    for k in ks:
        per_class = ranked_accuracy(truths, rankings, k=k, matches=matches)["per_class"]
        recalls[f"top{k}"] = _mean(c[f"top{k}"] for c in per_class.values())
    return recalls


def mmfashion_attribute_recall(
    positives: Sequence[set[str]], rankings: Sequence[Sequence[str]], values: Sequence[str],
    ks: Sequence[int] = (3, 5), best: int = 50,
) -> dict:
    """MMFashion's attribute figures over binary labels `values`.

    `positives[i]` is image i's set of true values, `rankings[i]` all its values best first. Returns
    {f"top{k}": {"recall", "accuracy"}}: recall is the mean of the `best` highest per-value recalls (of the
    values with any positive; fewer than `best` values are all averaged), accuracy the mean (tp + tn) / images.
    """
    if len(positives) != len(rankings):
        raise ValueError(f"{len(positives)} label sets but {len(rankings)} predictions: they must pair up")
    report = {}
    for k in ks:
        tp, fn, fp = Counter(), Counter(), Counter()
        for truth, ranking in zip(positives, rankings):
            chosen = set(ranking[:k])
            for value in values:
                if value in truth:
                    (tp if value in chosen else fn)[value] += 1
                elif value in chosen:
                    fp[value] += 1
        recalls = sorted((tp[v] / (tp[v] + fn[v]) for v in values if tp[v] + fn[v]), reverse=True)[:best]
        total = len(positives)
        accuracy = _mean((total - fn[v] - fp[v]) / total for v in values) if total else None
        report[f"top{k}"] = {"recall": _mean(recalls), "accuracy": accuracy}
    return report


def confusion(truths: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> list[list[int]]:
    """Counts [truth row][prediction column] over `classes`; a prediction outside them counts in an extra last column."""
    index = {label: i for i, label in enumerate(classes)}
    matrix = [[0] * (len(classes) + 1) for _ in classes]
    for truth, predicted in zip(truths, predictions):
        if truth in index:
            matrix[index[truth]][index.get(predicted, len(classes)) if predicted is not None else len(classes)] += 1
    return matrix


def _mean(values) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None
