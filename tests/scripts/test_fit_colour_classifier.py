"""Fitting the learned colour namer on a few real photos: the file it writes loads and names colours."""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from handlers.colour_classifier import load_classifier
from handlers.colours import dominant_colours
from handlers.taxonomy import load_taxonomy
from scripts.fit_colour_classifier import main
from tests.support.data_dirs import make_directory


def test_a_fit_on_real_photos_writes_a_classifier_with_its_provenance(shared_data: Path, tmp_path: Path) -> None:
    data = make_directory(shared_data / "fashion-products", tmp_path / "products", 40)
    out = tmp_path / "classifier.json"
    assert main([str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    document = json.loads(out.read_text())
    assert document["fitted_by"] == "python -m scripts.fit_colour_classifier products"
    assert 0.0 <= document["validation_top1"] <= 1.0 and document["seed"] == 0
    assert list(tmp_path.joinpath("cache").glob("colour_descriptors-products-*.npy"))  # descriptors were cached
    classifier = load_classifier(out)
    assert set(classifier.names) == {c.name for c in load_taxonomy().colours}
    image = Image.new("RGB", (224, 224), "white")
    ImageDraw.Draw(image).rectangle([56, 40, 168, 200], fill=(30, 60, 150))
    assert dominant_colours(image, classifier=classifier)[0]["name"] in classifier.names
    # A second fit reads the cached descriptors and gives the same weights (seeded, deterministic).
    again = tmp_path / "again.json"
    assert main([str(data), "--out", str(again), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert json.loads(again.read_text())["weights"] == document["weights"]
