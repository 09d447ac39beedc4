"""Fit the annotation model's calibration: a temperature per head, and the thresholds a tagging policy applies.

    python -m scripts.calibrate ../shared/data/fashion-products ../shared/data/clothing [--checkpoint DIR]

The model runs as served (the archive's own handler, staged from the checkpoint) over the validation photos of
each directory. Half of them (kalas/calibration.py, `in_calibration_half`) fit one temperature per head and then,
per target precision (90/95/97/99%), the lowest score at which a category, a category group or an attribute
value is applied; the other half is held out and the figures printed (and written) are read on it. The result
is `<checkpoint>/calibration.json`, which the archives carry in their model config (handlers/archive.py) and the
handler applies (handlers/attributes_handler.py).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from handlers.archive import ATTRIBUTES, CALIBRATION_FILE, DEFAULT_CHECKPOINT, stage_archives
from handlers.category_groups import backed_off, category_groups
from handlers.in_process import open_archive
from handlers.taxonomy import Taxonomy, load_taxonomy
from kalas.calibration import (expected_calibration_error, fit_temperature, in_calibration_half, softmax,
                               threshold_for)
from kalas.dataset import iter_batches, read_records, split

TARGETS = (0.90, 0.95, 0.97, 0.99)
BATCH = 32


@dataclass
class Head:
    """One head's logits over the scored photos, the classes each photo's truth accepts, and its data set."""

    logits: list[np.ndarray] = field(default_factory=list)
    targets: list[list[int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    fitting: list[bool] = field(default_factory=list)

    def add(self, logits: np.ndarray, targets: list[int], kind: str, fitting: bool) -> None:
        self.logits.append(logits)
        self.targets.append(targets)
        self.kinds.append(kind)
        self.fitting.append(fitting)

    def part(self, fitting: bool, kind: str | None = None) -> tuple[np.ndarray, list[list[int]]]:
        rows = [i for i, f in enumerate(self.fitting) if f == fitting and kind in (None, self.kinds[i])]
        return np.stack([self.logits[i] for i in rows]), [self.targets[i] for i in rows]


def collect(data_dirs: list[Path], checkpoint: Path, taxonomy: Taxonomy) -> tuple[dict[str, Head], dict]:
    """Every head's logits and truths over the validation photos of `data_dirs`, and the label files."""
    staged = stage_archives(checkpoint)
    served = open_archive(Path(staged.name), ATTRIBUTES)
    handler, labels = served.handler, served.handler.labels
    category_rows = {c["label"]: i for i, c in enumerate(labels["category"])}
    value_rows = {g: {v["label"]: i for i, v in enumerate(values)} for g, values in labels["attributes"].items()}
    colour_rows = {c["label"]: i for i, c in enumerate(labels.get("colours") or [])}
    heads: dict[str, Head] = {}
    for data_dir in data_dirs:
        _, validation = split(read_records(data_dir))
        mapping = taxonomy.detect(validation[0].labels.keys())
        for batch in tqdm(list(iter_batches(validation, BATCH)), desc=f"{data_dir.name} validation", unit="batch"):
            decoded = handler.preprocess([{"body": record.image.read_bytes()} for record in batch])
            _, outputs = handler.inference(decoded)
            for row, position in enumerate(decoded.positions):
                record = batch[position]
                truth, fitting = mapping.annotate(record.labels), in_calibration_half(record.id)
                if truth.category:
                    accepted = [category_rows[leaf] for leaf in taxonomy.leaves_under(truth.category)
                                if leaf in category_rows] or [category_rows[truth.category]]
                    heads.setdefault("category", Head()).add(outputs["category"][row].numpy(), accepted,
                                                             mapping.name, fitting)
                for group, value in truth.attributes.items():
                    if value in value_rows.get(group, {}):
                        heads.setdefault(f"attributes.{group}", Head()).add(
                            outputs["attributes"][group][row].numpy(), [value_rows[group][value]], mapping.name, fitting)
                if truth.colour in colour_rows and "colour" in outputs:
                    heads.setdefault("colour", Head()).add(outputs["colour"][row].numpy(), [colour_rows[truth.colour]],
                                                           mapping.name, fitting)
    staged.cleanup()
    return heads, labels


def _top(probabilities: np.ndarray, targets: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    best = probabilities.argmax(axis=1)
    return best, probabilities.max(axis=1), np.array([b in t for b, t in zip(best, targets)])


@dataclass(frozen=True)
class Candidates:
    """Per photo: the top category's score and rightness, and its groups' scores and rightness, nearest first (a
    group is right when the truth's categories lie within it, or it within the truth's)."""

    leaf: np.ndarray
    right: np.ndarray
    groups: list[list[tuple[float, bool]]]

    def outcomes(self, policy: dict) -> tuple[np.ndarray, np.ndarray]:
        """(applied, right) per photo under `policy`'s thresholds, by the rule the API applies (`backed_off`)."""
        applied, right = np.zeros(len(self.leaf), dtype=bool), np.zeros(len(self.leaf), dtype=bool)
        for i, (score, groups) in enumerate(zip(self.leaf, self.groups)):
            chosen = backed_off(score, [g for g, _ in groups], policy["leaf"], policy["group"])
            if chosen is not None:
                applied[i], right[i] = True, self.right[i] if chosen < 0 else groups[chosen][1]
        return applied, right


def _category_candidates(probabilities: np.ndarray, targets: list[list[int]], groups: list) -> Candidates:
    best, confidence, right = _top(probabilities, targets)
    above = [[(float(probabilities[i, g.members].sum()), set(accepted) <= g.members_set or g.members_set <= set(accepted))
              for g in groups if leaf in g.members_set] for i, (leaf, accepted) in enumerate(zip(best, targets))]
    return Candidates(confidence, right, above)


def category_policy(probabilities: np.ndarray, targets: list[list[int]], groups: list, precision: float) -> dict:
    """The leaf and group thresholds for `precision`: the lowest leaf threshold whose leaves are that right, then
    the lowest group threshold at which what the policy applies in all (leaves, and the nearest group that reaches
    it for the rest) stays that right."""
    candidates = _category_candidates(probabilities, targets, groups)
    leaf = threshold_for(candidates.leaf, candidates.right, precision)
    scores = sorted({round(score, 6) for i in np.flatnonzero(candidates.leaf < leaf) for score, _ in candidates.groups[i]})
    group = 1.01
    for threshold in reversed(scores):  # from the surest down: the lowest that still keeps the precision wins
        applied, right = candidates.outcomes({"leaf": leaf, "group": threshold})
        if applied.any() and right[applied].mean() >= precision:
            group = threshold
    return {"leaf": leaf, "group": group}


def apply_category_policy(probabilities: np.ndarray, targets: list[list[int]], groups: list, policy: dict) -> dict:
    """What the policy does on these photos: precision of what it applies, coverage (a leaf or a group) and leaf
    coverage."""
    candidates = _category_candidates(probabilities, targets, groups)
    applied, right = candidates.outcomes(policy)
    leaves = int((candidates.leaf >= policy["leaf"]).sum())
    return {"precision": round(float(right[applied].mean()), 4) if applied.any() else None,
            "coverage": round(int(applied.sum()) / len(right), 4), "leaf_coverage": round(leaves / len(right), 4),
            "photos": len(right)}


def calibrate(heads: dict[str, Head], labels: dict) -> dict:
    groups = category_groups(labels["category"])
    temperatures: dict = {"attributes": {}}
    held_out: dict = {}
    for name, head in sorted(heads.items()):
        logits, targets = head.part(fitting=True)
        temperature = fit_temperature(logits, targets)
        if name.startswith("attributes."):
            temperatures["attributes"][name.split(".", 1)[1]] = temperature
        else:
            temperatures[name] = temperature
        for kind in sorted(set(head.kinds)):
            test_logits, test_targets = head.part(fitting=False, kind=kind)
            before, after = (_top(softmax(test_logits, t), test_targets) for t in (1.0, temperature))
            held_out.setdefault(kind, {})[name] = {
                "photos": len(test_targets), "temperature": temperature,
                "ece_before": expected_calibration_error(before[1], before[2]),
                "ece": expected_calibration_error(after[1], after[2])}
    policy: dict = {}
    category = heads.get("category")
    for target in TARGETS:
        rule: dict = {"attributes": {}}
        if category is not None:
            logits, targets = category.part(fitting=True)
            rule["category"] = category_policy(softmax(logits, temperatures["category"]), targets, groups, target)
            for kind in sorted(set(category.kinds)):
                test_logits, test_targets = category.part(fitting=False, kind=kind)
                figures = apply_category_policy(softmax(test_logits, temperatures["category"]), test_targets, groups,
                                                rule["category"])
                held_out[kind].setdefault("auto_apply", {})[f"{target:.2f}"] = figures
                rule.setdefault("held_out", {})[kind] = figures  # what the target buys, shown where shops choose it
        for group, t in temperatures["attributes"].items():
            logits, targets = heads[f"attributes.{group}"].part(fitting=True)
            _, confidence, right = _top(softmax(logits, t), targets)
            rule["attributes"][group] = threshold_for(confidence, right, target)
        policy[f"{target:.2f}"] = rule
    return {"temperatures": temperatures, "policy": policy, "held_out": held_out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", nargs="+", type=Path, help="directories in the shared-data layout")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    args = parser.parse_args(argv)
    heads, labels = collect(args.data_dirs, args.checkpoint, load_taxonomy())
    result = calibrate(heads, labels)
    result["fitted_on"] = {"data": [d.name for d in args.data_dirs],
                           "photos": {name: sum(head.fitting) for name, head in heads.items()},
                           "rule": "validation photos with in_calibration_half(id); figures on the other half"}
    (args.checkpoint / CALIBRATION_FILE).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"temperatures": result["temperatures"], "held_out": result["held_out"]}, indent=2))


if __name__ == "__main__":
    main()
