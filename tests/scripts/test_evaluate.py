"""The evaluation command: exact figures from hand-made answers, and real runs on tiny directories of real photos."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from api.clients.inference import InferenceError
from handlers.archive import CALIBRATION_FILE, DEFAULT_CHECKPOINT
from handlers.colours import dominant_colours
from handlers.decoding import decode_image
from handlers.images import to_tensor
from handlers.models import INPUT_SIZE, MEAN, STD, load_fashion_model
from handlers.taxonomy import load_taxonomy
from kalas.calibration import expected_calibration_error
from kalas.dataset import Record, read_records
from scripts.evaluate import evaluate, main
from tests.support.data_dirs import make_directory

FASHION_COLUMNS = ["title", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage"]


def fashion_record(image_id: str, article: str, colour: str, gender: str = "Men", usage: str = "Casual") -> Record:
    labels = dict.fromkeys(FASHION_COLUMNS, "")
    labels.update(articleType=article, baseColour=colour, gender=gender, usage=usage, season="Summer")
    return Record(id=image_id, image=Path(f"{image_id}.jpg"), labels=labels)


def answer(categories: list[str], colours: list[str], gender: list[str]) -> dict:
    return {
        "category": [{"label": c, "name": c, "score": 0.9 - i / 10} for i, c in enumerate(categories)],
        "attributes": {"gender": [{"label": g, "name": g, "score": 0.8 - i / 10} for i, g in enumerate(gender)]},
        "colours": [{"name": name, "hex": "#000000", "share": 0.5} for name in colours],
        "model": {"name": "fashion-attributes", "version": "1.0"},
    }


def test_figures_from_hand_made_answers() -> None:
    records = [
        fashion_record("1", "Tshirts", "Navy Blue"),  # truth: the group "tees"
        fashion_record("2", "Tshirts", "Red", gender="Women"),
        fashion_record("3", "Jeans", "Blue"),
        fashion_record("4", "Jeans", "Multi"),  # no colour label: not scored for colour
    ]
    answers = [
        answer(["polo", "shirt"], ["Navy Blue", "Black"], ["men", "women"]),  # a leaf of "tees": right at 1
        answer(["shirt", "tshirt"], ["Pink", "Red"], ["men", "women"]),  # right at 2; colour right at 2
        answer(["jeans"], ["Blue"], ["men"]),
        InferenceError(400, "the image header is corrupt"),
    ]
    report = evaluate(records, answers, load_taxonomy())
    category = report["category"]
    assert (category["count"], category["top1"], category["top5"]) == (4, 2 / 4, 3 / 4)
    assert category["per_class"]["tees"] == {"count": 2, "top1": 0.5, "top5": 1.0}
    assert category["per_class"]["jeans"] == {"count": 2, "top1": 0.5, "top5": 0.5}  # the failed image is wrong
    assert category["macro_top1"] == 0.5
    assert category["mmfashion_recall"]["top1"] == 0.5
    assert report["colour"]["count"] == 3
    assert report["colour"]["top1"] == pytest.approx(2 / 3)
    assert report["colour"]["top3"] == 1.0
    assert report["attributes"]["gender"]["top1"] == pytest.approx(2 / 4)  # 1 and 3 right; 2 wrong; 4 failed
    assert report["attributes"]["usage"]["top1"] == 0.0  # no answer had a usage: every one is wrong
    assert report["data"]["failed"] == [{"id": "4", "status": 400, "error": "the image header is corrupt"}]
    assert report["model"] == {"name": "fashion-attributes", "version": "1.0"}
    assert "auto_apply" not in report  # these answers carry no policy (an uncalibrated model)


def test_the_policy_applies_a_leaf_a_group_or_nothing() -> None:
    """A leaf at or above its threshold; else the nearest group at or above the group threshold; else nothing.
    Each answer is read with its own table (a studio shot's and an everyday photo's differ)."""
    records = [fashion_record(str(i), article, "Black") for i, article in
               enumerate(["Casual Shoes", "Casual Shoes", "Heels", "Jeans", "Tshirts", "Shirts"])]
    studio, everyday = {"leaf": 0.9, "group": 0.8}, {"leaf": 0.97, "group": 0.95}

    def scored(leaf: str, leaf_score: float, groups: list[tuple[str, float]], table: dict = studio) -> dict:
        return answer([leaf], ["Black"], ["men"]) | {
            "category": [{"label": leaf, "name": leaf, "score": leaf_score}],
            "groups": [{"label": group, "name": group, "score": score} for group, score in groups],
            "policy": {"0.97": {"category": table, "attributes": {}}}}

    answers = [scored("casual-shoes", 0.95, [("shoes", 0.99)]),  # leaf applied, right
               scored("sports-shoes", 0.6, [("shoes", 0.97)]),  # group applied, right
               scored("flats", 0.6, [("shoes", 0.7), ("footwear", 0.9)]),  # department applied, right (heels)
               scored("shorts", 0.5, [("bottomwear", 0.85)]),  # group applied, right (jeans are bottomwear)
               scored("shirt", 0.5, [("topwear", 0.7)]),  # nothing applied
               scored("shirt", 0.95, [("topwear", 0.99)], everyday)]  # another kind's table: its group applied
    applied = evaluate(records, answers, load_taxonomy())["auto_apply"]
    assert applied == {"target": 0.97, "category": {"precision": 1.0, "coverage": round(5 / 6, 4),
                                                    "leaf_coverage": round(1 / 6, 4),
                                                    "thresholds": [studio, everyday]}}


def test_calibration_is_measured_on_what_the_labels_check() -> None:
    """A coarse label ("Tshirts": the group tees) checks the top leaf's group, so the group's score is set against
    it; a label as fine as the leaf, the leaf's own score. The top category's own score still ranks the curve."""
    records = [fashion_record("1", "Tshirts", "Black"), fashion_record("2", "Jeans", "Blue"),
               fashion_record("3", "Jeans", "Blue")]

    def scored(leaf: str, score: float, groups: list[tuple[str, float]]) -> dict:
        return answer([leaf], ["Black"], ["men"]) | {
            "category": [{"label": leaf, "name": leaf, "score": score}],
            "groups": [{"label": group, "name": group, "score": s} for group, s in groups]}

    answers = [scored("polo", 0.55, [("tees", 0.95), ("topwear", 0.99)]),  # right: tees' score is checked
               scored("jeans", 0.85, [("pants", 0.9), ("bottomwear", 0.97)]),  # right: the leaf's own
               scored("shorts", 0.65, [("bottomwear", 0.96)])]  # wrong: the leaf's own (the labels name shorts)
    category = evaluate(records, answers, load_taxonomy())["category"]
    assert category["ece"] == expected_calibration_error([0.95, 0.85, 0.65], [True, True, False])
    assert category["ece_top_score"] == expected_calibration_error([0.55, 0.85, 0.65], [True, True, False])
    assert [b["count"] for b in category["reliability"] if b["count"]] == [1, 1, 1]
    assert [p["threshold"] for p in category["risk_coverage"]][-1] == 0.55  # ranked by the top category's score
    assert category["ece_noise"] > 0 and "label" in category["ece_measured"]


def test_labels_the_taxonomy_lacks_are_listed_and_the_rest_scored() -> None:
    records = [fashion_record("1", "Waistcoat", "Black"), fashion_record("2", "Jeans", "Blue"),
               fashion_record("3", "Waistcoat", "Ochre")]
    answers = [answer(["jeans"], ["Blue"], ["men"])] * 3
    report = evaluate(records, answers, load_taxonomy())
    assert report["data"]["unknown_labels"] == {"articleType: Waistcoat": 2, "baseColour: Ochre": 1}
    assert report["category"]["count"] == 1 and report["category"]["top1"] == 1.0  # the jeans, scored
    assert report["attributes"]["gender"]["count"] == 3  # the rest of an unknown row still counts


@pytest.mark.slow
def test_a_run_on_real_product_photos_through_the_served_archives(
    shared_data: Path, model_store: Path, tmp_path: Path
) -> None:
    data = make_directory(shared_data / "fashion-products", tmp_path / "products", 12)
    report_path, pictures = tmp_path / "report.json", tmp_path / "pictures"
    assert main([str(data), "--all", "--model-store", str(model_store), "--json", str(report_path),
                 "--out", str(pictures)]) == 0
    report = json.loads(report_path.read_text())
    assert report["data"] == {"kind": "fashion-products", "images": 12, "failed": [], "directory": "products",
                              "split": "all", "unknown_labels": {}}
    assert 0.0 <= report["category"]["ece"] <= 1.0 and report["category"]["risk_coverage"][-1]["coverage"] == 1.0
    applied = report["auto_apply"]["category"]  # under the shipped policy, fitted by scripts/calibrate.py
    assert report["auto_apply"]["target"] == 0.97 and 0.0 <= applied["leaf_coverage"] <= applied["coverage"] <= 1.0
    for figure in ("top1", "top5", "macro_top1"):
        assert 0.0 <= report["category"][figure] <= 1.0
    assert report["category"]["top1"] <= report["category"]["top5"]
    assert set(report["attributes"]) >= {"gender", "usage", "season", "mmfashion"}
    # The served colours are the colour function's own on the same photos, with the eager model's colour head.
    taxonomy = load_taxonomy()
    names = {c.label: c.name for c in taxonomy.colours}
    records = read_records(data)
    scored = [(r, taxonomy.detect(r.labels).annotate(r.labels).colour) for r in records]
    head = colour_head_prior(taxonomy)
    local = []
    for record, truth in scored:
        if truth:
            image = decode_image(record.image.read_bytes(), min_side=INPUT_SIZE)
            local.append(dominant_colours(image, prior=head(image))[0]["name"] == names[truth])
    assert report["colour"]["top1"] == pytest.approx(sum(local) / len(local))
    for name in ("confusion.png", "per_class.png", "mistakes.png", "reliability.png"):
        with Image.open(pictures / name) as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 100


@pytest.mark.slow
def test_an_unreadable_photo_and_a_missing_one_fail_and_are_scored_wrong(
    shared_data: Path, model_store: Path, tmp_path: Path
) -> None:
    data = make_directory(shared_data / "fashion-products", tmp_path / "products", 6)
    photos = sorted((data / "images").iterdir())
    photos[0].write_bytes(b"not a photo")
    photos[1].unlink()  # its row stays in labels.csv
    report_path, pictures = tmp_path / "report.json", tmp_path / "pictures"
    assert main([str(data), "--all", "--model-store", str(model_store), "--json", str(report_path),
                 "--out", str(pictures)]) == 0
    report = json.loads(report_path.read_text())
    assert report["data"]["images"] == 6 and report["category"]["count"] == 6  # never a smaller test set, unsaid
    failed = {f["id"]: (f["status"], f["error"]) for f in report["data"]["failed"]}
    assert failed.keys() == {photos[0].stem, photos[1].stem}
    assert failed[photos[0].stem][0] == 400 and "not an image" in failed[photos[0].stem][1]
    assert failed[photos[1].stem] == (404, f"labels.csv has a row '{photos[1].stem}' but products/images/ holds no "
                                           f"{photos[1].name} (nor .webp)")
    assert report["category"]["top1"] <= 4 / 6  # the two failed photos are wrong answers
    for name in ("confusion.png", "per_class.png", "mistakes.png", "reliability.png"):  # the sheet drew no failed photo
        assert (pictures / name).is_file()


def colour_head_prior(taxonomy):
    """image -> the committed model's colour log-probabilities in vocabulary order, at the head's calibrated
    temperature (None without a colour head)."""
    model, meta = load_fashion_model(DEFAULT_CHECKPOINT)
    if "colours" not in meta:
        return lambda image: None
    order = [meta["colours"].index(c.label) for c in taxonomy.colours]
    calibration = DEFAULT_CHECKPOINT / CALIBRATION_FILE
    temperature = json.loads(calibration.read_text())["temperatures"]["colour"] if calibration.is_file() else 1.0

    def prior(image: Image.Image) -> np.ndarray:
        with torch.inference_mode():
            logits = model(to_tensor([image], INPUT_SIZE, MEAN, STD))["colour"] / temperature
            return logits.log_softmax(-1)[0].numpy()[order]

    return prior


@pytest.mark.slow
def test_consumer_photos_have_categories_but_no_colour_labels(shared_data: Path, model_store: Path, tmp_path: Path) -> None:
    data = make_directory(shared_data / "clothing", tmp_path / "clothing", 8)
    report_path = tmp_path / "report.json"
    main([str(data), "--all", "--model-store", str(model_store), "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert report["data"]["kind"] == "clothing"
    assert "colour" not in report  # the clothing set has no colour column: nothing to score, nothing invented
    assert list(report["attributes"]) == ["age", "mmfashion"]
    labelled = [r for r in read_records(data) if r.labels["label"] != "Other"]
    assert report["category"]["count"] == len(labelled)


def test_a_directory_it_cannot_read_is_said_without_a_traceback(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="is not a data directory: it needs labels.csv"):
        main([str(tmp_path / "nowhere"), "--json", str(tmp_path / "report.json")])
    data = make_directory(shared_data / "fashion-products", tmp_path / "other", 1)
    (data / "labels.csv").write_text("id,material\n" + next((data / "images").iterdir()).stem + ",linen\n")
    with pytest.raises(SystemExit, match=r"columns \['material'\] fit no kind"):
        main([str(data), "--all", "--json", str(tmp_path / "report.json")])


def test_an_empty_validation_split_says_to_use_all(shared_data: Path, tmp_path: Path) -> None:
    # Rows 0..2 of the product set all fall on the training side of the split.
    data = make_directory(shared_data / "fashion-products", tmp_path / "few", 3)
    with pytest.raises(SystemExit, match="use --all"):
        main([str(data), "--json", str(tmp_path / "report.json")])
