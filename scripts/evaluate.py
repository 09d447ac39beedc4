"""Evaluate the annotation model on a directory in the shared-data layout, through the project's inference client.

    python -m scripts.evaluate ../shared/data/fashion-products --json eval.json --out eval/
    python -m scripts.evaluate HELD_OUT_DIR --all --json held_out.json          # a held-out set, used whole
    python -m scripts.evaluate DIR --model-store model_store --json served.json  # the built archives, as served

By default the validation split (scripts/dataset.split) is scored, with the model staged from `--checkpoint`
(checkpoints/fashion) and answers asked for with no attribute threshold, so each group's best value is scored
even when the served threshold would hide it. Labels are read through the taxonomy's mapping of the data
set (handlers/taxonomy.yaml): a category prediction is right when the truth is the predicted leaf or one of
its groups. The JSON holds category, attribute and colour figures (kalas/metrics.py), MMFashion's own
figures beside them, and the images that failed; `--out` adds the pictures (kalas/plots.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from api.clients.inference import InferenceClient, InferenceError, TorchServeClient

from api.clients.in_process import InProcessClient
from handlers.archive import ATTRIBUTES, DEFAULT_CHECKPOINT, PRECISIONS, stage_archives
from handlers.category_groups import backed_off
from handlers.in_process import open_archive
from handlers.taxonomy import Annotation, Taxonomy, load_taxonomy
from kalas import plots
from kalas.calibration import ECE_MEASURED, ece_noise, expected_calibration_error, reliability, risk_coverage
from kalas.dataset import Record, is_validation, iter_batches, read_rows, split
from kalas.metrics import confusion, mmfashion_attribute_recall, mmfashion_category_recall, ranked_accuracy

# Wide enough that every category and attribute value comes back scored (no group has more than 10 values).
EVALUATION_SETTINGS = {"top_k": 10, "attribute_threshold": 0.0, "colours": 3}
BATCH = 16
# The shipped default policy applies a category or tag only at or above a 97% target precision.
DEFAULT_TARGET = "0.97"
WORST_MISTAKES = 24


def evaluate(records: Sequence[Record], answers: Sequence[dict | InferenceError], taxonomy: Taxonomy) -> dict:
    """The report over paired records and answers (the annotation contract of docs/architecture.md)."""
    mapping = taxonomy.detect(records[0].labels.keys())
    unknown: Counter = Counter()  # labels taxonomy.yaml does not map: left unlabelled, listed in the report
    truths = [mapping.annotate(record.labels, unknown) for record in records]
    failed = [{"id": r.id, "status": a.status, "error": a.message} for r, a in zip(records, answers)
              if isinstance(a, InferenceError)]
    # A failed image is scored as an empty answer: a wrong one, never a silently smaller test set.
    answers = [{} if isinstance(a, InferenceError) else a for a in answers]
    report: dict = {"data": {"kind": mapping.name, "images": len(records), "failed": failed,
                             "unknown_labels": dict(unknown.most_common())}}
    model = next((a["model"] for a in answers if a.get("model")), None)
    if model:
        report["model"] = model
    labelled = [(t.category, [c["label"] for c in a.get("category", [])]) for t, a in zip(truths, answers) if t.category]
    if labelled:
        truth, ranking = zip(*labelled)
        scored = [(t.category, a) for t, a in zip(truths, answers) if t.category]
        top_scores, right = zip(*[(a["category"][0]["score"] if a.get("category") else 0.0,
                                   bool(a.get("category")) and taxonomy.matches(a["category"][0]["label"], t))
                                  for t, a in scored])
        checked = [_checked_score(a, mapping.category_labels(taxonomy), taxonomy) for _, a in scored]
        report["category"] = {
            **ranked_accuracy(truth, ranking, k=5, matches=taxonomy.matches),
            "mmfashion_recall": mmfashion_category_recall(truth, ranking, matches=taxonomy.matches),
            # Calibration of what the labels check: a coarse label ("Shoes") checks the top leaf's group, so the
            # group's score is set against it, not the leaf's (which says how sure the leaf itself is).
            **_confidence(checked, right),
            "ece_measured": ECE_MEASURED,
            "ece_noise": ece_noise(checked),
            "ece_top_score": expected_calibration_error(top_scores, right),
            # How well the top category's own score ranks right answers above wrong ones.
            "risk_coverage": risk_coverage(top_scores, right),
        }
        if any(a.get("policy") for a in answers):
            report["auto_apply"] = {"target": float(DEFAULT_TARGET), "category": _auto_apply(
                [(t.category, a) for t, a in zip(truths, answers) if t.category], DEFAULT_TARGET, taxonomy)}
    report["attributes"] = _attributes(truths, answers)
    colours = [(t.colour, [_colour_label(taxonomy, c["name"]) for c in a.get("colours", [])])
               for t, a in zip(truths, answers) if t.colour]
    if colours:
        report["colour"] = ranked_accuracy(*zip(*colours), k=3)
    return report


def _attributes(truths: Sequence[Annotation], answers: Sequence[dict]) -> dict:
    groups: dict = {}
    for group in sorted({g for t in truths for g in t.attributes}):
        rows = [(t.attributes[group], [v["label"] for v in a.get("attributes", {}).get(group, [])])
                for t, a in zip(truths, answers) if group in t.attributes]
        stats = ranked_accuracy(*zip(*rows), k=1)
        groups[group] = {key: stats[key] for key in ("count", "top1", "macro_top1", "per_class")}
        scored = [(values[0]["score"] if values else 0.0, bool(values) and values[0]["label"] == t.attributes[group])
                  for t, a in zip(truths, answers) if group in t.attributes
                  for values in [a.get("attributes", {}).get(group, [])]]
        groups[group].update(_confidence(*zip(*scored)))
    # MMFashion scores every (group, value) as one binary attribute, ranked by score across groups.
    positives = [{f"{g}:{v}" for g, v in t.attributes.items()} for t in truths]
    rankings = []
    for answer in answers:
        scored = [(v["score"], f"{g}:{v['label']}") for g, vs in answer.get("attributes", {}).items() for v in vs]
        rankings.append([value for _, value in sorted(scored, key=lambda pair: -pair[0])])
    values = sorted({value for ranking in rankings for value in ranking} | {v for p in positives for v in p})
    if values:
        groups["mmfashion"] = mmfashion_attribute_recall(positives, rankings, values)
    return groups


def _confidence(scores: Sequence[float], right: Sequence[bool]) -> dict:
    """How well the top answer's score means what it says (kalas/calibration.py)."""
    return {"ece": expected_calibration_error(scores, right), "reliability": reliability(scores, right),
            "risk_coverage": risk_coverage(scores, right)}


def _checked_score(answer: dict, labels: frozenset[str], taxonomy: Taxonomy) -> float:
    """The answer's score for what a data set naming `labels` checks of its top category (`Taxonomy.checked`):
    the top category's own score, or the score the answer gives the group the labels name (its categories'
    together; summed over the categories answered when the answer has no groups)."""
    best = (answer.get("category") or [None])[0]
    if best is None:
        return 0.0
    claim = taxonomy.checked(best["label"], labels)
    if claim == best["label"]:
        return best["score"]
    group = next((g["score"] for g in answer.get("groups") or [] if g["label"] == claim), None)
    return group if group is not None else sum(c["score"] for c in answer["category"]
                                               if taxonomy.matches(c["label"], claim))


def _auto_apply(scored: Sequence[tuple[str, dict]], target: str, taxonomy: Taxonomy) -> dict:
    """What each answer's own policy table (the thresholds for its kind of photo) does at `target`
    (handlers/category_groups.py `backed_off`: the leaf at or above `leaf`, else the nearest group at or above its
    level's threshold, `group` or `department`, else nothing). Precision of what is applied (a group is right when
    the truth lies within it, or it within the truth), coverage (a leaf or a group) and leaf coverage; `thresholds`:
    the tables met."""
    leaves = groups = right = 0
    met: list[dict] = []
    for truth, answer in scored:
        best = (answer.get("category") or [None])[0]
        above = answer.get("groups") or []
        thresholds = ((answer.get("policy") or {}).get(target) or {}).get("category")
        if thresholds is not None and thresholds not in met:
            met.append(thresholds)
        chosen = None if best is None or thresholds is None else backed_off(
            best["score"], [g["score"] for g in above], thresholds)
        if chosen == -1:
            leaves += 1
            right += taxonomy.matches(best["label"], truth)
        elif chosen is not None:
            groups += 1
            label = above[chosen]["label"]
            right += taxonomy.matches(label, truth) or label in taxonomy.ancestors(truth)
    applied = leaves + groups
    return {"precision": round(right / applied, 4) if applied else None, "coverage": round(applied / len(scored), 4),
            "leaf_coverage": round(leaves / len(scored), 4), "thresholds": met}


def _colour_label(taxonomy: Taxonomy, name: str) -> str:
    return next((c.label for c in taxonomy.colours if c.name == name), name)


def draw_pictures(report: dict, records: Sequence[Record], answers: Sequence[dict | InferenceError],
                  taxonomy: Taxonomy, out: Path) -> list[str]:
    """Confusion matrix, per-class accuracy and the most confident category mistakes, as PNG files in `out`."""
    if "category" not in report:
        return []
    mapping = taxonomy.detect(records[0].labels.keys())
    per_class = report["category"]["per_class"]
    classes = list(per_class)
    truths, predicted, mistakes = [], [], []
    for record, answer in zip(records, answers):
        truth = mapping.annotate(record.labels, Counter()).category  # unknown labels: counted in the report
        top = (answer.get("category") or [None])[0] if isinstance(answer, dict) else None
        if truth is None:
            continue
        # A prediction is drawn in its truth's column when it is right (a leaf of a group counts as the group).
        label = top and next((a for a in taxonomy.ancestors(top["label"]) if a in per_class), top["label"])
        truths.append(truth)
        predicted.append(label)
        if label != truth and top:  # a photo that failed is in the report's `failed`, not among the sure mistakes
            mistakes.append((top["score"], record.image, truth, top["label"]))
    mistakes.sort(key=lambda m: -m[0])
    kind = report["data"]["kind"]
    return [str(p) for p in (
        plots.confusion_png(confusion(truths, predicted, classes), classes, out / "confusion.png",
                                   f"{kind}: category"),
        plots.per_class_png(per_class, out / "per_class.png", f"{kind}: category"),
        plots.mistakes_png([(image, truth, f"{said} {score:.2f}") for score, image, truth, said
                                   in mistakes[:WORST_MISTAKES]], out / "mistakes.png",
                                  f"{kind}: the {min(WORST_MISTAKES, len(mistakes))} most confident category mistakes"),
        plots.reliability_png(report["category"]["reliability"], report["category"]["risk_coverage"],
                              out / "reliability.png", f"{kind}: category, ECE {report['category']['ece']:.3f} of what the "
                              f"labels check (by chance alone {report['category']['ece_noise']:.3f})"),
    )]


async def annotate_all(client: InferenceClient, records: Sequence[Record]) -> list[dict | InferenceError]:
    answers: list[dict | InferenceError] = []
    with tqdm(total=len(records), desc="annotating", unit="img") as progress:
        for batch in iter_batches(list(records), BATCH):
            answers += await client.annotate([record.image.read_bytes() for record in batch])
            progress.update(len(batch))
    return answers


def no_image(record: Record, data_dir: Path) -> InferenceError:
    return InferenceError(404, f"labels.csv has a row {record.id!r} but {data_dir.name}/images/ holds no "
                               f"{record.image.name} (nor .webp)")


def make_client(args: argparse.Namespace) -> InferenceClient:
    if args.torchserve:
        return TorchServeClient(args.torchserve)
    if args.model_store:
        return InProcessClient({ATTRIBUTES: open_archive(args.model_store, ATTRIBUTES)})
    staged = stage_archives(args.checkpoint, settings={**EVALUATION_SETTINGS, "precision": args.precision})
    return InProcessClient({ATTRIBUTES: open_archive(Path(staged.name), ATTRIBUTES)}, cleanup=staged)


async def run(args: argparse.Namespace) -> dict:
    taxonomy = load_taxonomy()
    try:  # a directory not in the layout, or of a kind the taxonomy does not map: said, not a traceback
        records, missing = read_rows(args.data_dir)
        if records:
            taxonomy.detect(records[0].labels.keys())
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    if not args.all:
        records, missing = split(records)[1], [r for r in missing if is_validation(r.id)]
    records = records[: args.limit] if args.limit else records
    if not records:
        raise SystemExit(f"{args.data_dir}: no images to evaluate (the split is empty; use --all for a small set)")
    client = make_client(args)
    try:
        answers = await annotate_all(client, records)
    finally:
        await client.aclose()
    if not args.limit:  # a labelled row whose photo is not there fails like an unreadable one
        records, answers = records + missing, answers + [no_image(r, args.data_dir) for r in missing]
    report = evaluate(records, answers, taxonomy)
    report["data"].update(directory=args.data_dir.name, split="all" if args.all else "validation")
    if args.out:
        report["pictures"] = draw_pictures(report, records, answers, taxonomy, args.out)
    return report


def summary(report: dict) -> str:
    failed = report["data"]["failed"]
    absent = sum(f["status"] == 404 for f in failed)
    lines = [f"{report['data']['directory']} ({report['data']['split']}, {report['data']['images']} images, "
             f"{len(failed)} failed{f': {absent} not in images/' if absent else ''})"]
    if report["data"]["unknown_labels"]:
        lines.append("labels the taxonomy lacks (left unlabelled, the rest scored): "
                     + ", ".join(f"{label} ×{n}" for label, n in report["data"]["unknown_labels"].items()))
    if "category" in report:
        c = report["category"]
        lines.append(f"category  top1 {c['top1']:.3f}  top5 {c['top5']:.3f}  macro top1 {c['macro_top1']:.3f}  "
                     f"(MMFashion per-class recall top1 {c['mmfashion_recall']['top1']:.3f})  ECE {c['ece']:.3f} "
                     f"(by chance alone {c['ece_noise']:.3f})")
    if "auto_apply" in report:
        a = report["auto_apply"]["category"]
        lines.append(f"auto-apply at {report['auto_apply']['target']:.0%}: precision {a['precision']}, coverage "
                     f"{a['coverage']:.3f}, leaf coverage {a['leaf_coverage']:.3f}")
    for group, stats in report["attributes"].items():
        if group != "mmfashion":
            lines.append(f"{group:<9} top1 {stats['top1']:.3f}  macro top1 {stats['macro_top1']:.3f}  "
                         f"ECE {stats['ece']:.3f}")
    if "colour" in report:
        lines.append(f"colour    top1 {report['colour']['top1']:.3f}  top3 {report['colour']['top3']:.3f}  "
                     f"macro top1 {report['colour']['macro_top1']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="images/<id>.jpg + labels.csv")
    parser.add_argument("--json", type=Path, required=True, help="where to write the report")
    parser.add_argument("--out", type=Path, help="a directory for the pictures")
    parser.add_argument("--all", action="store_true", help="score every image (a held-out set), not the split")
    parser.add_argument("--limit", type=int, help="score only the first N images (a quick look)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="stage the model from here")
    source.add_argument("--model-store", type=Path, help="the built archives, with their own settings")
    source.add_argument("--torchserve", help="a running TorchServe's inference URL")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="with --checkpoint: what the staged graph runs in (handlers/frozen_model.py)")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
