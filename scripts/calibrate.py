"""Fit the annotation model's calibration: a temperature per head, the category's top curve, and the thresholds a
tagging policy applies.

    python -m scripts.calibrate ../shared/data/fashion-products ../shared/data/clothing [--checkpoint DIR]
        [--bound clopper-pearson|wilson|none] [--level 0.95] [--margin 0]
        [--calibrator isotonic|histogram|scaling] [--bins 10] [--folds 5] [--cache DIR] [--out PATH]

The model runs as served (the archive's own handler, staged from the checkpoint) over the validation photos of
each directory (once per checkpoint: its raw outputs per photo are kept under var/handler-outputs,
kalas/handler_outputs.py, and a later fit reads them), and each kind of photo (`photo_kind`) is fitted apart: one
temperature per head, then for the category a rising curve through its top score (`TopCalibrator`: isotonic
regression by default, kalas/top_curve.py; fitted on the score of what each photo's label checks: the top leaf,
or the group a coarse label such as "Shoes" names), and then, per target precision (90/95/97/99%), the lowest
score at which a category, a category group or an attribute value is applied with the precision holding on new
photos with the stated confidence (`Rule`: by default the kept photos' one-sided 95% Clopper–Pearson lower bound
reaches the target).

**Figures are cross-fitted.** The validation photos are split in `--folds` parts (5; kalas/calibration.py,
`calibration_fold`); the whole fit is made on all parts but one and read on that one (fold k scores part k), for
each part in turn, and every figure is read on the scored parts pooled: each validation photo scored once, by a fit
that never saw it. Each figure says its folds beside it: how much the draw of the photos moves it. ECE is measured
as `ECE_MEASURED` says.

**What ships is one fit on every validation photo**: more photos than any fold's fit (a fifth more than each of
five folds', twice each of two folds'), so steadier temperatures and tighter bounds; the cross-fitted figures are
what the same procedure did on photos it never saw, with fewer photos (so, if anything, a little pessimistic for
the shipped fit). No figure of the
shipped fit on its own photos is reported as held out. The result is `<checkpoint>/calibration.json`, which the
archives carry in their model config (handlers/archive.py) and the handler applies
(handlers/attributes_handler.py); each target's `held_out` (the coverage it buys, which the console shows) holds
the cross-fitted figures.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from handlers.archive import CALIBRATION_FILE, DEFAULT_CHECKPOINT
from handlers.category_groups import category_groups
from handlers.images import PHOTO_KINDS
from handlers.taxonomy import Taxonomy, load_taxonomy
from kalas.calibration import (BOUNDS, CROSS_FIT_FOLDS, ECE_MEASURED, SHIPPED_RULE, Rule, calibration_fold,
                               claim_confidence, ece_noise, expected_calibration_error, fit_temperature,
                               fit_top_scaling, softmax, top_scaled)
from kalas.dataset import read_records, split
from kalas.handler_outputs import CACHE_ROOT, StagedHandler, handler_outputs
from kalas.policy_thresholds import category_outcomes, category_policy, summary, top_choice
from kalas.top_curve import fit_top_curve, top_curved

TARGETS = (0.90, 0.95, 0.97, 0.99)
MIN_PHOTOS = 50
CROSS_FITTED = ("cross-fitted: the validation photos in {folds} parts (calibration_fold); fold k scores part k with "
                "the fit made on the other parts; figures on the scored parts pooled (each photo scored once by a fit "
                "that never saw it), `folds` each fold's own (a fold whose part holds none of the photos left out)")


class Part(NamedTuple):
    """Some of a head's photos: their logits, the classes each truth accepts, and per photo, for each class the
    model may put first, the classes its label checks of that answer (`Taxonomy.checked`: the group "Shoes" for
    a shoe when the data set's labels say no more; the class alone for a label as fine as the model's classes)."""

    logits: np.ndarray
    targets: list[list[int]]
    checks: list[list[list[int]]]

    def claims(self, probabilities: np.ndarray) -> list[list[int]]:
        """Per photo, the classes of what its label checks of its top answer."""
        return [checks[best] for checks, best in zip(self.checks, probabilities.argmax(axis=1))]


@dataclass
class Head:
    """One head's logits over the scored photos, the classes each photo's truth accepts, and its data set."""

    logits: list[np.ndarray] = field(default_factory=list)
    targets: list[list[int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)  # the photo's part of the validation photos (`calibration_fold`)
    photos: list[str] = field(default_factory=list)  # the photo's kind as the handler tells it (`photo_kind`)
    checks: list[list[list[int]]] = field(default_factory=list)  # as `Part.checks`, one table per data set

    def add(self, logits: np.ndarray, targets: list[int], kind: str, part: int, photo: str,
            checks: list[list[int]] | None = None) -> None:
        self.logits.append(logits)
        self.targets.append(targets)
        self.kinds.append(kind)
        self.parts.append(part)
        self.photos.append(photo)
        self.checks.append(checks if checks is not None else [[row] for row in range(len(logits))])

    def part(self, *, only: int | None = None, but: int | None = None, kind: str | None = None,
             photo: str | None = None) -> Part:
        """The photos of one part of the validation photos (`only`), of all parts but one (`but`), or of all
        (neither), of one data set and kind of photo."""
        rows = [i for i, p in enumerate(self.parts) if only in (None, p) and (but is None or p != but)
                and kind in (None, self.kinds[i]) and photo in (None, self.photos[i])]
        if not rows:
            return Part(np.zeros((0, self.logits[0].shape[0])), [], [])
        return Part(np.stack([self.logits[i] for i in rows]), [self.targets[i] for i in rows],
                    [self.checks[i] for i in rows])


def collect(data_dirs: list[Path], checkpoint: Path, taxonomy: Taxonomy, cache: Path = CACHE_ROOT,
            folds: int = CROSS_FIT_FOLDS) -> tuple[dict[str, Head], dict]:
    """Every head's logits and truths over the validation photos of `data_dirs`, each photo in one of `folds` parts
    (`calibration_fold`), and the label files. The handler's
    outputs come from the cache (kalas/handler_outputs.py) when it holds them; else the staged archive's handler
    runs once over the photos and the cache keeps them."""
    served = StagedHandler(checkpoint)
    per_dir = []
    for data_dir in data_dirs:
        _, validation = split(read_records(data_dir))
        per_dir.append((validation, handler_outputs(validation, data_dir, checkpoint, served.outputs, root=cache)))
    served.close()
    labels = per_dir[0][1].labels
    category_rows = {c["label"]: i for i, c in enumerate(labels["category"])}
    value_rows = {g: {v["label"]: i for i, v in enumerate(values)} for g, values in labels["attributes"].items()}
    colour_rows = {c["label"]: i for i, c in enumerate(labels.get("colours") or [])}
    heads: dict[str, Head] = {}
    for validation, outputs in per_dir:
        mapping = taxonomy.detect(validation[0].labels.keys())
        labels_named = mapping.category_labels(taxonomy)
        checks = [[category_rows[leaf] for leaf in taxonomy.leaves_under(checked) if leaf in category_rows] or [row]
                  for row, checked in enumerate(taxonomy.checked(c["label"], labels_named) for c in labels["category"])]
        for row, record in enumerate(validation):
            photo = outputs.kinds[row]
            if not photo:
                continue  # the handler refused the photo
            truth, part = mapping.annotate(record.labels), calibration_fold(record.id, folds)
            if truth.category:
                accepted = [category_rows[leaf] for leaf in taxonomy.leaves_under(truth.category)
                            if leaf in category_rows] or [category_rows[truth.category]]
                heads.setdefault("category", Head()).add(outputs.logits["category"][row], accepted, mapping.name,
                                                         part, photo, checks)
            for group, value in truth.attributes.items():
                if value in value_rows.get(group, {}) and f"attributes.{group}" in outputs.logits:
                    heads.setdefault(f"attributes.{group}", Head()).add(
                        outputs.logits[f"attributes.{group}"][row], [value_rows[group][value]], mapping.name,
                        part, photo)
            if truth.colour in colour_rows and "colour" in outputs.logits:
                heads.setdefault("colour", Head()).add(outputs.logits["colour"][row], [colour_rows[truth.colour]],
                                                       mapping.name, part, photo)
    return heads, labels


@dataclass(frozen=True)
class TopCalibrator:
    """The category's second step after its temperature, fitted on the score of what each label checks: a rising
    curve for the top probability (kalas/top_curve.py, written as "top_curve": {"x", "y"}), by `isotonic`
    regression (what ships: docs/model_card.md, "Top curve") or `histogram` binning in `bins` bins of equal count;
    or `scaling`, a Platt scaling of the top probability's log-odds (`fit_top_scaling`, written as "top":
    [slope, bias]; what shipped before 2026-12-06's isotonic curve)."""

    kind: str = "isotonic"
    bins: int = 10

    def fit(self, probabilities: np.ndarray, claims: list[list[int]], right: np.ndarray) -> dict:
        if self.kind == "scaling":
            return {"top": list(fit_top_scaling(probabilities, claims, right))}
        x, y = fit_top_curve(probabilities, claims, right, self.bins if self.kind == "histogram" else None)
        return {"top_curve": {"x": x, "y": y}}

    def describe(self) -> dict:
        return {"calibrator": self.kind, **({"bins": self.bins} if self.kind == "histogram" else {})}


CALIBRATORS = ("scaling", "isotonic", "histogram")
SHIPPED_CALIBRATOR = TopCalibrator()


def fit(heads: dict[str, Head], groups: list, photo: str | None, held: int | None = None,
        rule: Rule = SHIPPED_RULE, calibrator: TopCalibrator = SHIPPED_CALIBRATOR) -> dict:
    """Temperatures, the category's second step (`calibrator`) and the policy table (thresholds by `rule`) fitted on
    the photos of one kind (None: all) in every part of the validation photos but `held` (None: every photo). A
    head with fewer than MIN_PHOTOS of that kind there (consumer photos have no gender labels) is fitted on all
    those parts' photos."""
    def rows(head: Head) -> Part:
        part = head.part(but=held, photo=photo)
        return head.part(but=held) if len(part.targets) < MIN_PHOTOS else part

    fitted: dict = {"temperatures": {"attributes": {}}, "top": {}, "top_curve": {}}
    for name, head in sorted(heads.items()):
        temperature = fit_temperature(*rows(head)[:2])
        if name.startswith("attributes."):
            fitted["temperatures"]["attributes"][name.split(".", 1)[1]] = temperature
        else:
            fitted["temperatures"][name] = temperature
    if "category" in heads:
        # A second step for the category alone, whose labels are often coarser than its leaves: the temperature
        # fits the probability of the truth's whole group, the second step the score of what each label checks.
        part = rows(heads["category"])
        probabilities = softmax(part.logits, fitted["temperatures"]["category"])
        for key, value in calibrator.fit(probabilities, part.claims(probabilities),
                                         top_choice(probabilities, part.targets)[2]).items():
            fitted[key]["category"] = value
    if not fitted["top_curve"]:
        del fitted["top_curve"]  # a scaling's fit reads as it did before curves
    policy: dict = {}
    for target in TARGETS:
        table: dict = {"attributes": {}}
        if "category" in heads:
            part = rows(heads["category"])
            table["category"] = category_policy(scores(fitted, "category", part.logits), part.targets, groups,
                                                target, rule)
        for group in fitted["temperatures"]["attributes"]:
            part = rows(heads[f"attributes.{group}"])
            _, confidence, right = top_choice(scores(fitted, f"attributes.{group}", part.logits), part.targets)
            table["attributes"][group] = rule.threshold(confidence, right, target)
        policy[f"{target:.2f}"] = table
    fitted["policy"] = policy
    return fitted


def scores(fitted: dict | None, name: str, logits: np.ndarray, *, top: bool = True) -> np.ndarray:
    """A head's probabilities as the handler answers them under `fitted` (handlers/calibration.py): the
    temperature's softmax, then the top scaling or the top curve when the head has one (`top=False`: the
    temperature alone).
    `fitted` None: the raw softmax (T = 1)."""
    if fitted is None:
        return softmax(logits)
    temperatures = fitted["temperatures"]
    temperature = temperatures["attributes"][name.split(".", 1)[1]] if name.startswith("attributes.") \
        else temperatures[name]
    probabilities = softmax(logits, temperature)
    scaling, curve = fitted.get("top", {}).get(name), fitted.get("top_curve", {}).get(name)
    if top and curve:
        return top_curved(probabilities, curve["x"], curve["y"])
    return top_scaled(probabilities, *scaling) if top and scaling else probabilities


def checked_scores(probabilities: np.ndarray, part: Part) -> tuple[np.ndarray, np.ndarray]:
    """Per photo, the score of what its label checks of the top answer (the top class, or the group a coarse
    label names: the score the handler answers for that group), and whether it is right."""
    return claim_confidence(probabilities, part.claims(probabilities)), top_choice(probabilities, part.targets)[2]


def _ece_figures(measured: dict[str, tuple[list, list]]) -> dict:
    """ECE raw (T = 1), with the temperature alone and as shipped, and what chance alone measures on as many."""
    return {"photos": len(measured["shipped"][1]),
            **{f"ece_{step}" if step != "shipped" else "ece": expected_calibration_error(*pair)
               for step, pair in measured.items()},
            "ece_noise": ece_noise(measured["shipped"][0])}


def cross_fitted(heads: dict[str, Head], groups: list, fits: dict[int, dict[str, dict]]) -> dict:
    """Per data set, each head's ECE and the category policy's precision, coverage and leaf coverage per target,
    read on each fold's scored part with that fold's fit for the photo's kind (`fits[part][photo]`: fitted on every
    part but `part`), pooled over the folds (`CROSS_FITTED`)."""
    held_out: dict = {}
    for name, head in sorted(heads.items()):
        for kind in sorted(set(head.kinds)):
            folds = []
            for held, by_photo in fits.items():
                measured: dict[str, tuple[list, list]] = {"before": ([], []), "temperature": ([], []),
                                                          "shipped": ([], [])}
                for photo, fitted in by_photo.items():
                    part = head.part(only=held, kind=kind, photo=photo)
                    if part.targets:
                        for step, probabilities in (("before", scores(None, name, part.logits)),
                                                    ("temperature", scores(fitted, name, part.logits, top=False)),
                                                    ("shipped", scores(fitted, name, part.logits))):
                            confidence, right = checked_scores(probabilities, part)
                            measured[step][0].extend(confidence)
                            measured[step][1].extend(right)
                if measured["shipped"][1]:  # a part may hold none of a small data set's photos of a head
                    folds.append(measured)
            pooled = {step: tuple(sum((list(f[step][i]) for f in folds), []) for i in (0, 1)) for step in folds[0]}
            figures = {**_ece_figures(pooled), "folds": [
                {key: value for key, value in _ece_figures(f).items() if key in ("photos", "ece", "ece_noise")}
                for f in folds]}
            if name != "category" or figures["ece_temperature"] == figures["ece"]:
                figures.pop("ece_temperature")  # no second step: the temperature is what is shipped
            held_out.setdefault(kind, {})[name] = figures
    if "category" in heads:
        category = heads["category"]
        for kind in sorted(set(category.kinds)):
            for target in TARGETS:
                folds = []
                for held, by_photo in fits.items():
                    outcomes = [category_outcomes(scores(fitted, "category", part.logits), part.targets, groups,
                                                  fitted["policy"][f"{target:.2f}"]["category"])
                                for photo, fitted in by_photo.items()
                                for part in [category.part(only=held, kind=kind, photo=photo)] if part.targets]
                    if outcomes:
                        folds.append([np.concatenate(parts) for parts in zip(*outcomes)])
                pooled = summary(*(np.concatenate(parts) for parts in zip(*folds)))
                held_out[kind].setdefault("auto_apply", {})[f"{target:.2f}"] = {
                    **pooled, "folds": [summary(*fold) for fold in folds]}
    for name, head in sorted(heads.items()):
        if name.startswith("attributes."):
            for kind in sorted(set(head.kinds)):
                held_out[kind][name]["auto_apply"] = {
                    f"{target:.2f}": _attribute_outcomes(head, name, kind, target, fits) for target in TARGETS}
    return held_out


def _attribute_outcomes(head: Head, name: str, kind: str, target: float, fits: dict[int, dict[str, dict]]) -> dict:
    """Precision and coverage of an attribute group's best value applied at its policy threshold for `target`,
    cross-fitted as `cross_fitted` reads the category."""
    folds = []
    for held, by_photo in fits.items():
        applied, right = [], []
        for photo, fitted in by_photo.items():
            part = head.part(only=held, kind=kind, photo=photo)
            if part.targets:
                _, confidence, correct = top_choice(scores(fitted, name, part.logits), part.targets)
                applied.append(confidence >= fitted["policy"][f"{target:.2f}"]["attributes"][name.split(".", 1)[1]])
                right.append(correct)
        if applied:
            folds.append((np.concatenate(applied), np.concatenate(right)))

    def figures(applied: np.ndarray, right: np.ndarray) -> dict:
        return {k: v for k, v in summary(applied, right, applied).items() if k != "leaf_coverage"}
    return {**figures(*(np.concatenate(parts) for parts in zip(*folds))), "folds": [figures(*f) for f in folds]}


def calibrate(heads: dict[str, Head], labels: dict, rule: Rule = SHIPPED_RULE,
              calibrator: TopCalibrator = SHIPPED_CALIBRATOR) -> dict:
    """Fitted per kind of photo as the handler tells them apart (`photo_kind`: studio shots and everyday photos
    score differently), and on all photos for a handler that cannot tell, on every validation photo: what ships.
    The held-out figures are cross-fitted (`cross_fitted`: the same fits on all parts of the photos but one, read on
    that one, for each part), per data set, each photo scored with its own kind's fit."""
    groups = category_groups(labels["category"])
    present = {photo for head in heads.values() for photo in head.photos}
    kinds = [photo for photo in PHOTO_KINDS if photo in present]
    overall = fit(heads, groups, None, None, rule, calibrator)
    by_photo = {photo: fit(heads, groups, photo, None, rule, calibrator) for photo in kinds}
    parts = sorted({part for head in heads.values() for part in head.parts})
    folds = {held: {photo: fit(heads, groups, photo, held, rule, calibrator) for photo in kinds} for held in parts}
    held_out = cross_fitted(heads, groups, folds)
    for target in TARGETS:
        # What a target buys, shown where shops choose it, in every table a photo may be scored with.
        for fitted in (overall, *by_photo.values()):
            fitted["policy"][f"{target:.2f}"]["held_out"] = {
                kind: figures["auto_apply"][f"{target:.2f}"] for kind, figures in held_out.items()
                if "auto_apply" in figures}
    return {**overall, "photo_kinds": by_photo, "held_out": held_out,
            "held_out_measured": CROSS_FITTED.format(folds=len(parts)),
            "threshold_rule": rule.describe(), "top_calibrator": calibrator.describe(), "ece_measured": ECE_MEASURED}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", nargs="+", type=Path, help="directories in the shared-data layout")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--bound", choices=(*BOUNDS, "none"), default=SHIPPED_RULE.bound,
                        help="the lower bound on precision a threshold's kept photos must reach the target with "
                             "(none: the observed precision)")
    parser.add_argument("--level", type=float, default=SHIPPED_RULE.level, help="the bound's one-sided confidence")
    parser.add_argument("--margin", type=float, default=SHIPPED_RULE.margin, help="added to each target")
    parser.add_argument("--calibrator", choices=CALIBRATORS, default=SHIPPED_CALIBRATOR.kind,
                        help="the category's second step after its temperature (TopCalibrator)")
    parser.add_argument("--bins", type=int, default=SHIPPED_CALIBRATOR.bins, help="the histogram calibrator's bins")
    parser.add_argument("--folds", type=int, default=CROSS_FIT_FOLDS,
                        help="the parts of the validation photos the held-out figures are cross-fitted over")
    parser.add_argument("--cache", type=Path, default=CACHE_ROOT,
                        help="where the handler's outputs per photo are kept between runs (kalas/handler_outputs.py)")
    parser.add_argument("--out", type=Path, help="where to write the result (default: <checkpoint>/"
                                                 f"{CALIBRATION_FILE}, which the archives carry)")
    args = parser.parse_args(argv)
    rule = Rule(None if args.bound == "none" else args.level, SHIPPED_RULE.bound if args.bound == "none"
                else args.bound, args.margin)
    if args.folds < 2:
        parser.error(f"--folds {args.folds}: cross-fitting needs at least 2 parts")
    heads, labels = collect(args.data_dirs, args.checkpoint, load_taxonomy(), args.cache, args.folds)
    result = calibrate(heads, labels, rule, TopCalibrator(args.calibrator, args.bins))
    result["fitted_on"] = {"data": [d.name for d in args.data_dirs],
                           "photos": {name: len(head.parts) for name, head in heads.items()},
                           "rule": f"every validation photo; held-out figures cross-fitted over {args.folds} parts"}
    (args.out or args.checkpoint / CALIBRATION_FILE).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"temperatures": result["temperatures"], "top": result["top"], "top_curve": result.get("top_curve"),
                      "threshold_rule": result["threshold_rule"], "held_out": result["held_out"]}, indent=2))

if __name__ == "__main__":
    main()
