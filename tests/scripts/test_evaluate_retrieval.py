"""scripts/evaluate_retrieval.py end to end on a small real directory, with the real embedder in-process."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index import CatalogueIndex, CatalogueStore, save

from kalas.dataset import is_validation
from scripts import evaluate_retrieval

N = 40


def small_catalogue(root: Path, shared_data: Path, count: int = N) -> Path:
    source = shared_data / "fashion-products"
    with open(source / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:count]
    (root / "images").mkdir(parents=True)
    for row in rows:
        shutil.copy(source / "images" / f"{row['id']}.jpg", root / "images")
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.mark.slow
def test_metrics_recovery_and_contact_sheet(tmp_path: Path, shared_data: Path, model_store: Path) -> None:
    data = small_catalogue(tmp_path / "data", shared_data)
    n_queries = sum(is_validation(p.stem) for p in (data / "images").iterdir())
    assert 0 < n_queries < N
    out = tmp_path / "out" / "retrieval.json"
    assert evaluate_retrieval.main([str(data), "--json", str(out), "--model-store", str(model_store),
                                    "--recovery-samples", "10", "--indexes", str(tmp_path / "ix")]) == 0
    report = json.loads(out.read_text())
    assert (report["gallery_images"], report["queries"]) == (N - n_queries, n_queries)
    assert (report["type_column"], report["colour_column"]) == ("articleType", "baseColour")
    for block in ("same_type", "same_type_and_colour"):
        metrics = report[block]
        for k in (1, 5, 10):
            assert 0 <= metrics[f"precision@{k}"] <= metrics[f"hit@{k}"] <= 1
        assert metrics["hit@1"] <= metrics["hit@5"] <= metrics["hit@10"]
    assert report["same_type_and_colour"]["hit@10"] <= report["same_type"]["hit@10"]
    # A slightly cropped, re-encoded copy of a gallery photo is still that photo's nearest neighbour.
    assert report["exact_recovery"]["samples"] == 10
    assert report["exact_recovery"]["top1_rate"] >= 0.9
    with Image.open(out.with_suffix(".png")) as sheet:
        assert sheet.height > n_queries * 128  # one row per query: the query and its top 5
    # The same figures from vectors already in an index of the whole directory (how the demo gallery is reused).
    kept = CatalogueStore(tmp_path / "ix")
    ids = kept.get("gallery").products() + kept.get("queries").products()
    vectors = [evaluate_retrieval.first_vector(kept.get(c), p) for c in ("gallery", "queries") for p in kept.get(c).products()]
    save(CatalogueIndex.build(len(vectors[0]), ids, np.stack(vectors)), tmp_path / "whole.kidx")
    again = tmp_path / "again.json"
    assert evaluate_retrieval.main([str(data), "--json", str(again), "--model-store", str(model_store),
                                    "--recovery-samples", "10", "--vectors-from", str(tmp_path / "whole.kidx")]) == 0
    assert json.loads(again.read_text()) == report


@pytest.mark.slow
def test_photos_left_out_are_named(tmp_path: Path, shared_data: Path, model_store: Path) -> None:
    data = small_catalogue(tmp_path / "data", shared_data, count=12)
    photos = sorted((data / "images").iterdir())
    photos[0].write_bytes(b"not a photo")  # unreadable: refused by the embedder
    photos[1].unlink()  # its row stays in labels.csv
    out = tmp_path / "retrieval.json"
    assert evaluate_retrieval.main([str(data), "--json", str(out), "--model-store", str(model_store),
                                    "--recovery-samples", "4"]) == 0
    report = json.loads(out.read_text())
    assert report["gallery_images"] + report["queries"] == 10
    unreadable = report["left_out"]["unreadable"]
    assert [u["id"] for u in unreadable] == [photos[0].stem] and "not an image" in unreadable[0]["reason"]
    assert report["left_out"]["not_in_images"] == [photos[1].stem]


def test_a_missing_column_is_named(tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    data = small_catalogue(tmp_path / "data", shared_data)
    with pytest.raises(SystemExit):
        evaluate_retrieval.main([str(data), "--json", str(tmp_path / "r.json"), "--type-column", "material"])
    assert "labels.csv has no column 'material'" in capsys.readouterr().err


def test_labels_the_taxonomy_lacks_are_listed_with_their_counts(tmp_path):
    from scripts.evaluate_retrieval import unknown_labels
    from tests.scripts.test_evaluate import fashion_record

    records = [fashion_record("1", "Waistcoat", "Black"), fashion_record("2", "Waistcoat", "Black"),
               fashion_record("3", "Jeans", "Blue")]
    assert unknown_labels(records) == {"articleType: Waistcoat": 2}
