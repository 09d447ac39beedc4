"""Which confidence ranks the category's answers best: candidates for the policy's leaf score, compared on the
served model's cached outputs for the validation photos.

    python -m scripts.compare_confidence ../shared/data/fashion-products ../shared/data/clothing [--json PATH]

Each candidate is fitted on one half of the validation photos (kalas/calibration.py, `calibration_fold` in two
parts: part 0, the "calibration half") and scored on the other half, then the halves are swapped (`fold` 0 and 1: how much of a
difference is the draw of the halves). The photos are read as the handler reads them: the served outputs
(kalas/served_outputs.py, var/cache/served) with each photo's kind (`photo_kind`) and that kind's temperature.
Per data set the JSON has, on the held-out half:
- `auroc` and `coverage_at_97` (the largest fraction of photos kept from the most confident down whose leaves are
  97% right), on the photos whose label names a leaf: only there can a leaf be checked at all (a photo labelled
  "Shoes" says nothing of which shoe);
- `policy_97`: precision, coverage and leaf coverage of the tagging policy at 97% (scripts/calibrate.py, the
  candidate as the leaf score, groups scored by their probability), thresholds fitted on the calibration half.
Candidates:
- `temperature`: the top category's probability (what shipped before the top scaling);
- `top_scaled`: the same after the category's top scaling (what shipped before the top curve; both keep the
  temperature's order, so the ranking figures are the shipped curve's too; other thresholds);
- `logistic`: a logistic regression on the top probability's log-odds, the margin to the second, the entropy and
  the photo's kind, fitted on the photos whose label names a leaf;
- `logistic_knn`: the same and the share of the photo's 10 nearest training photos (by served embedding, same data
  set) whose label accepts the top category (at serving time, a labelled catalogue beside the model);
- `logistic_group_as_checked`: the same features and the probability of the top category's nearest group,
  fitted on every photo against rightness as its label checks it: what a leaf score learns when group-labelled
  photos teach it (it scores "Shoes", not the shoe, so it is not a leaf's probability and cannot ship as one).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from handlers.archive import DEFAULT_CHECKPOINT
from handlers.category_groups import category_groups
from handlers.decoding import decode_image
from handlers.images import photo_kind
from handlers.models import INPUT_SIZE
from handlers.taxonomy import load_taxonomy
from kalas.calibration import Rule, calibration_fold, fit_temperature, fit_top_scaling, softmax, top_scaled
from kalas.dataset import read_records, split
from kalas.served_outputs import served_outputs
from kalas.policy_thresholds import Candidates, category_candidates, policy_for, summary

TARGET = 0.97
AS_OBSERVED = Rule(level=None)
NEIGHBOURS = 10


@dataclass(frozen=True)
class Photos:
    """The validation photos with a category label: logits, accepted rows, what their labels check per top row."""

    logits: np.ndarray
    targets: list[list[int]]
    checks: list[list[list[int]]]
    data: np.ndarray  # the data set's name
    studio: np.ndarray
    fitting: np.ndarray
    leaf_labelled: np.ndarray
    agreement: np.ndarray  # share of the nearest training photos whose label accepts the top category


def load(data_dirs: list[Path], checkpoint: Path) -> tuple[Photos, list]:
    taxonomy = load_taxonomy()
    labels = json.loads((checkpoint / "labels.json").read_text())
    rows = {c["label"]: i for i, c in enumerate(labels["category"])}
    columns: dict[str, list] = {k: [] for k in Photos.__dataclass_fields__}
    for data_dir in data_dirs:
        train, validation = split(read_records(data_dir))
        mapping = taxonomy.detect(validation[0].labels.keys())
        named = mapping.category_labels(taxonomy)
        checks = [[rows[leaf] for leaf in taxonomy.leaves_under(taxonomy.checked(c["label"], named)) if leaf in rows]
                  for c in labels["category"]]

        def accepted(record) -> list[int] | None:
            truth = mapping.annotate(record.labels).category
            return None if truth is None else [rows[leaf] for leaf in taxonomy.leaves_under(truth) if leaf in rows]

        outputs = served_outputs(validation, data_dir, checkpoint)
        known = [(r, a) for r in train if (a := accepted(r))]
        gallery = served_outputs([r for r, _ in known], data_dir, checkpoint)["embedding"]
        for i, record in enumerate(validation):
            if not (target := accepted(record)):
                continue
            best = int(outputs["category"][i].argmax())
            nearest = np.argsort(-(gallery @ outputs["embedding"][i]))[:NEIGHBOURS]
            image = decode_image(record.image.read_bytes(), min_side=INPUT_SIZE)
            for key, value in (("logits", outputs["category"][i]), ("targets", target), ("checks", checks),
                               ("data", data_dir.name), ("studio", photo_kind(image) == "studio"),
                               ("fitting", calibration_fold(record.id, 2) == 0),
                               ("leaf_labelled", mapping.annotate(record.labels).category in taxonomy.leaves),
                               ("agreement", np.mean([best in known[j][1] for j in nearest]))):
                columns[key].append(value)
    arrays = {k: np.array(v) for k, v in columns.items() if k not in ("targets", "checks")}
    return Photos(targets=columns["targets"], checks=columns["checks"], **arrays), category_groups(labels["category"])


def _features(p: np.ndarray, photos: Photos, groups: list) -> np.ndarray:
    ordered = -np.sort(-p, axis=1)
    top = np.clip(ordered[:, 0], 1e-7, 1 - 1e-7)
    best = p.argmax(axis=1)
    nearest_group = np.array([next((p[i, g.members].sum() for g in groups if b in g.members_set), top[i])
                              for i, b in enumerate(best)]).clip(1e-7, 1 - 1e-7)
    return np.column_stack([np.log(top / (1 - top)), np.log(top / np.clip(ordered[:, 1], 1e-9, None)),
                            -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1), photos.studio,
                            photos.agreement, np.log(nearest_group / (1 - nearest_group))])


def _logistic(columns: list[int], leaf_only: bool) -> Callable:
    def score(p: np.ndarray, photos: Photos, fit: np.ndarray, groups: list, right: np.ndarray) -> np.ndarray:
        x = _features(p, photos, groups)[:, columns]
        rows = fit & photos.leaf_labelled if leaf_only else fit
        return LogisticRegression(max_iter=2000).fit(x[rows], right[rows]).predict_proba(x)[:, 1]
    return score


CANDIDATES: dict[str, Callable] = {
    "temperature": lambda p, *_: p.max(axis=1),
    "top_scaled": None,  # the top-scaled probabilities' own top score, computed beside them
    "logistic": _logistic([0, 1, 2, 3], leaf_only=True),
    "logistic_knn": _logistic([0, 1, 2, 3, 4], leaf_only=True),
    "logistic_group_as_checked": _logistic([0, 1, 2, 3, 5], leaf_only=False),
}


def _coverage_at(confidence: np.ndarray, right: np.ndarray, precision: float) -> float:
    order = np.argsort(-confidence, kind="stable")
    accuracy = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    reached = np.flatnonzero(accuracy >= precision)
    return round(float((reached.max() + 1) / len(order)), 4) if len(reached) else 0.0


def compare(photos: Photos, groups: list) -> dict:
    report: dict = {}
    for fold in (0, 1):
        fit = photos.fitting if fold == 0 else ~photos.fitting
        # As the handler reads a photo: its kind's temperature, and its kind's top scaling for `top_scaled`.
        p, scaled = np.zeros(photos.logits.shape), np.zeros(photos.logits.shape)
        for studio in (True, False):
            kind, kind_fit = photos.studio == studio, (photos.studio == studio) & fit
            if not kind.any():
                continue
            fitting = np.flatnonzero(kind_fit)
            temperature = fit_temperature(photos.logits[kind_fit], [photos.targets[i] for i in fitting])
            p[kind] = softmax(photos.logits[kind], temperature)
            claims = [photos.checks[i][int(np.argmax(p[i]))] for i in fitting]
            right_fit = np.array([int(np.argmax(p[i])) in photos.targets[i] for i in fitting])
            scaled[kind] = top_scaled(p[kind], *fit_top_scaling(p[kind_fit], claims, right_fit))
        right = np.array([int(np.argmax(p[i])) in photos.targets[i] for i in range(len(p))])
        for name, candidate in CANDIDATES.items():
            probabilities = scaled if name == "top_scaled" else p
            leaf = probabilities.max(axis=1) if candidate is None else candidate(p, photos, fit, groups, right)
            def chosen(rows: np.ndarray) -> Candidates:  # the candidate as the leaf score, groups by probability
                return replace(category_candidates(probabilities[rows], [photos.targets[i] for i in rows], groups),
                               leaf=leaf[rows])

            # The thresholds as observed (`Rule(level=None)`): candidates are compared on where their fitting
            # photos just reach 97%, as measured before the shipped rule asked for a confidence bound.
            tables = {studio: policy_for(chosen(np.flatnonzero(fit & (photos.studio == studio))), TARGET, AS_OBSERVED)
                      for studio in (True, False) if (fit & (photos.studio == studio)).any()}
            for data in sorted(set(photos.data)):
                held = ~fit & (photos.data == data)
                checkable = held & photos.leaf_labelled
                outcomes = []
                for studio, table in tables.items():
                    rows = np.flatnonzero(held & (photos.studio == studio))
                    if len(rows):
                        scored = chosen(rows)
                        applied, ok = scored.outcomes(table)
                        outcomes.append((applied, ok, scored.leaf >= table["leaf"]))
                report.setdefault(data, {}).setdefault(name, {})[f"fold {fold}"] = {
                    "auroc": round(float(roc_auc_score(right[checkable], leaf[checkable])), 4),
                    "coverage_at_97": _coverage_at(leaf[checkable], right[checkable], TARGET),
                    "policy_97": summary(*(np.concatenate(parts) for parts in zip(*outcomes)))}
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.compare_confidence", description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", nargs="+", type=Path, help="directories in the shared-data layout")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--json", type=Path, help="where to write the comparison")
    args = parser.parse_args(argv)
    report = compare(*load(args.data_dirs, args.checkpoint))
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
