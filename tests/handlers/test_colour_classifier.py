"""The learned colour namer: the committed weights load, name plain garments, and a stale file is refused."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from handlers.colour_classifier import CLASSIFIER_PATH, default_classifier, load_classifier
from handlers.colours import dominant_colours


def garment_on_white(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (224, 224), "white")
    ImageDraw.Draw(image).rectangle([56, 40, 168, 200], fill=colour)
    return image


def test_the_committed_classifier_loads_and_names_a_red_garment_on_white_red() -> None:
    classifier = load_classifier(CLASSIFIER_PATH)
    assert classifier is not None and "Red" in classifier.names
    colours = dominant_colours(garment_on_white((200, 30, 35)), k=3, classifier=classifier)
    assert colours[0]["name"] == "Red"
    assert colours[0]["share"] > 0.9  # the share is still the clusters', not the classifier's


@pytest.mark.parametrize("rgb, name", [((20, 20, 20), "Black"), ((40, 80, 170), "Blue"), ((250, 220, 40), "Yellow")])
def test_the_default_naming_uses_it_for_plain_garments(rgb: tuple[int, int, int], name: str) -> None:
    assert default_classifier() is not None
    colours = dominant_colours(garment_on_white(rgb), k=3)
    assert colours[0]["name"] == name
    assert len({c["name"] for c in colours}) == len(colours)  # the renamed first colour is never listed twice


def test_a_classifier_for_another_vocabulary_is_refused(tmp_path: Path) -> None:
    document = json.loads(CLASSIFIER_PATH.read_text(encoding="utf-8"))
    document["vocabulary"] = document["vocabulary"][:-1]
    stale = tmp_path / "colour_classifier.json"
    stale.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match="refit it with scripts/fit_colour_classifier.py"):
        load_classifier(stale)


def test_a_confident_prior_from_the_model_outweighs_the_pixels_and_a_flat_one_changes_nothing() -> None:
    classifier = default_classifier()
    vocabulary = list(classifier.vocabulary)
    red = garment_on_white((200, 30, 35))
    flat = np.full(len(vocabulary), -np.log(len(vocabulary)))
    assert dominant_colours(red, k=3, prior=flat)[0]["name"] == "Red"
    # The model is all but sure the garment is maroon (say, a dark red the pixels' lighting washed out).
    sure = np.full(len(vocabulary), np.log(1e-6))
    sure[vocabulary.index("Maroon")] = np.log(1 - 1e-6 * (len(vocabulary) - 1))
    colours = dominant_colours(red, k=3, prior=sure)
    assert colours[0]["name"] == "Maroon"
    assert colours[0]["share"] > 0.9  # the hex and share are still the clusters'
