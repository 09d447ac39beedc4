"""Fitting the colour-naming prototypes: the picking rule on hand-made clusters, and a run on real photos."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from handlers.colour_space import hex_to_rgb, srgb_to_lab
from handlers.colours import load_palette
from handlers.taxonomy import load_taxonomy
from scripts.fit_colour_names import fit, main
from tests.support.data_dirs import make_directory


def lab(hex_value: str) -> np.ndarray:
    return srgb_to_lab(np.array(hex_to_rgb(hex_value), dtype=np.float64) / 255)


def test_each_photo_gives_the_cluster_that_looks_like_its_label() -> None:
    # A red shirt on a model in jeans, with some skin; a navy dress on white; the clusters' sizes say little.
    clusters = [
        ("red", np.array([lab("#2B4A7A"), lab("#B8202A"), lab("#D9A58A")]), np.array([50.0, 30.0, 20.0])),
        ("navy", np.array([lab("#F4F4F4"), lab("#1E2640")]), np.array([70.0, 30.0])),
    ]
    labels, prototypes = fit(clusters, rounds=2)
    assert labels == ["red", "navy"]
    assert np.allclose(prototypes, [lab("#B8202A"), lab("#1E2640")])


def test_a_fit_on_real_photos_loads_as_the_palette(shared_data: Path, tmp_path: Path) -> None:
    data = make_directory(shared_data / "fashion-products", tmp_path / "products", 30)
    out = tmp_path / "prototypes.json"
    assert main([str(data), "--out", str(out)]) == 0
    fitted = json.loads(out.read_text())
    vocabulary = {c.label for c in load_taxonomy().colours}
    assert set(fitted["labels"]) <= vocabulary
    assert 10 <= len(fitted["labels"]) == len(fitted["lab"]) <= 30  # at most one per training photo
    palette = load_palette(out)
    assert len(palette.names) == len(vocabulary) + len(fitted["labels"])
