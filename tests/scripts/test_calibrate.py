"""The calibration command on small directories of real photos: temperatures and a policy table written beside the
checkpoint, and carried by the archives built from it; its cross-fitted figures on seeded logits."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from handlers.archive import CALIBRATION_FILE, DEFAULT_CHECKPOINT, stage_archives
from handlers.category_groups import category_groups
from kalas.calibration import CROSS_FIT_FOLDS, Rule, calibration_fold, precision_lower_bound
from kalas.policy_thresholds import category_outcomes, summary
from scripts.calibrate import TARGETS, Head, calibrate, fit, main, scores
from tests.support.data_dirs import make_directory


def seeded_heads(photos: int = 300, seed: int = 0) -> tuple[dict[str, Head], dict]:
    """A category head over the checkpoint's categories: shop photos (studio) and consumer photos (everyday), each
    right about 85% of the time."""
    labels = json.loads((DEFAULT_CHECKPOINT / "labels.json").read_text())
    classes, rng, head = len(labels["category"]), np.random.default_rng(seed), Head()
    for i in range(photos):
        truth, shop = int(rng.integers(classes)), i % 3 != 0
        logits = rng.normal(0.0, 1.0, classes)
        logits[truth] += rng.normal(5.0 if shop else 4.0, 2.0)
        head.add(logits, [truth], "shop" if shop else "consumer", calibration_fold(f"photo-{i}"),
                 "studio" if shop else "everyday")
    return {"category": head}, labels


def test_every_photo_is_scored_once_by_the_fit_of_the_other_parts():
    heads, labels = seeded_heads()
    head, groups = heads["category"], category_groups(labels["category"])
    result = calibrate(heads, labels)
    for kind in ("shop", "consumer"):
        photos = head.kinds.count(kind)
        ece = result["held_out"][kind]["category"]
        assert ece["photos"] == photos == sum(fold["photos"] for fold in ece["folds"])
        for target in TARGETS:
            pooled = result["held_out"][kind]["auto_apply"][f"{target:.2f}"]
            assert pooled["photos"] == photos == sum(fold["photos"] for fold in pooled["folds"])
            # The console's options show the cross-fitted figures, in every table a photo may be scored with.
            for table in (result, *result["photo_kinds"].values()):
                assert table["policy"][f"{target:.2f}"]["held_out"][kind] == pooled
        # Fold k: fitted on every part of the photos but part k, read on part k.
        assert len(ece["folds"]) == CROSS_FIT_FOLDS
        for number in range(CROSS_FIT_FOLDS):
            outcomes = []
            for photo in ("studio", "everyday"):
                fitted = fit(heads, groups, photo, number)
                part = head.part(only=number, kind=kind, photo=photo)
                if part.targets:
                    outcomes.append(category_outcomes(scores(fitted, "category", part.logits), part.targets, groups,
                                                      fitted["policy"]["0.97"]["category"]))
            expected = summary(*(np.concatenate(parts) for parts in zip(*outcomes)))
            assert result["held_out"][kind]["auto_apply"]["0.97"]["folds"][number] == expected
    # What ships is fitted on every photo, not on any fold's.
    shipped, on_all = result["photo_kinds"]["studio"]["policy"], fit(heads, groups, "studio", None)["policy"]
    assert {t: table["category"] for t, table in shipped.items()} == {t: table["category"] for t, table in on_all.items()}
    assert result["photo_kinds"]["studio"]["temperatures"] != fit(heads, groups, "studio", 0)["temperatures"]
    assert result["threshold_rule"]["level"] == 0.95 and result["threshold_rule"]["bound"] == "clopper-pearson"


def test_the_shipped_thresholds_vouch_for_the_target_where_observed_ones_only_reach_it():
    heads, labels = seeded_heads()
    head, groups = heads["category"], category_groups(labels["category"])
    for target in (0.90, 0.95):
        observed = fit(heads, groups, "studio", None, Rule(level=None))["policy"][f"{target:.2f}"]["category"]
        vouched = fit(heads, groups, "studio", None)["policy"][f"{target:.2f}"]["category"]
        assert vouched["leaf"] > observed["leaf"]
        part = head.part(photo="studio")
        fitted = fit(heads, groups, "studio", None)
        applied, right, _ = category_outcomes(scores(fitted, "category", part.logits), part.targets, groups, vouched)
        # on the photos it was fitted on, what the policy applies is the target right at 95% confidence
        assert precision_lower_bound(right[applied].sum(), applied.sum(), 0.95) >= target


@pytest.mark.slow
def test_calibration_is_fitted_written_and_carried_by_the_archives(shared_data: Path, tmp_path: Path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(DEFAULT_CHECKPOINT, checkpoint)
    (checkpoint / CALIBRATION_FILE).unlink(missing_ok=True)
    products = make_directory(shared_data / "fashion-products", tmp_path / "products", 200)
    clothing = make_directory(shared_data / "clothing", tmp_path / "clothing", 120)
    main([str(products), str(clothing), "--checkpoint", str(checkpoint), "--cache", str(tmp_path / "cache")])
    fitted = json.loads((checkpoint / CALIBRATION_FILE).read_text())
    # The handler's outputs are kept per data directory: a second fit reads them and fits the same.
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    main([str(products), str(clothing), "--checkpoint", str(checkpoint), "--cache", str(tmp_path / "cache"),
          "--out", str(tmp_path / "again.json")])
    assert json.loads((tmp_path / "again.json").read_text()) == fitted
    temperatures = fitted["temperatures"]
    assert 0.05 <= temperatures["category"] <= 20 and set(temperatures["attributes"]) >= {"gender", "usage"}
    assert set(fitted["policy"]) == {f"{t:.2f}" for t in TARGETS}
    stricter = [fitted["policy"][f"{t:.2f}"]["category"]["leaf"] for t in TARGETS]
    assert stricter == sorted(stricter)  # a higher target never applies at a lower score
    assert set(fitted["held_out"]) == {"fashion-products", "clothing"}
    for kind, figures in fitted["held_out"].items():  # cross-fitted: every fold, every validation photo once
        assert figures["category"]["photos"] == sum(fold["photos"] for fold in figures["category"]["folds"])
        assert len(figures["auto_apply"]["0.97"]["folds"]) == CROSS_FIT_FOLDS
    assert fitted["fitted_on"]["rule"].startswith("every validation photo")
    # Studio shots and everyday photos get a fit each (the handler tells them apart by their backdrop).
    assert set(fitted["photo_kinds"]) == {"studio", "everyday"}
    for kind in fitted["photo_kinds"].values():
        assert set(kind["policy"]) == set(fitted["policy"]) and 0.05 <= kind["temperatures"]["category"] <= 20
        curve = kind["top_curve"]["category"]  # the category's top curve, which rises strictly: the ranking holds
        assert curve["x"][0] == 0 and curve["x"][-1] == 1 and (np.diff(curve["y"]) > 0).all()
    staged = stage_archives(checkpoint)
    try:
        config = yaml.safe_load((Path(staged.name) / "fashion-attributes" / "model-config.yaml").read_text())
        assert config["handler"]["calibration"] == {"temperatures": temperatures, "top": fitted["top"],
                                                    "top_curve": fitted["top_curve"], "policy": fitted["policy"],
                                                    "photo_kinds": fitted["photo_kinds"]}
    finally:
        staged.cleanup()
