"""The calibration command on small directories of real photos: temperatures and a policy table written beside the
checkpoint, and carried by the archives built from it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from handlers.archive import CALIBRATION_FILE, DEFAULT_CHECKPOINT, stage_archives
from scripts.calibrate import TARGETS, main
from tests.support.data_dirs import make_directory

pytestmark = pytest.mark.slow


def test_calibration_is_fitted_written_and_carried_by_the_archives(shared_data: Path, tmp_path: Path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(DEFAULT_CHECKPOINT, checkpoint)
    (checkpoint / CALIBRATION_FILE).unlink(missing_ok=True)
    products = make_directory(shared_data / "fashion-products", tmp_path / "products", 200)
    clothing = make_directory(shared_data / "clothing", tmp_path / "clothing", 120)
    main([str(products), str(clothing), "--checkpoint", str(checkpoint)])
    fitted = json.loads((checkpoint / CALIBRATION_FILE).read_text())
    temperatures = fitted["temperatures"]
    assert 0.05 <= temperatures["category"] <= 20 and set(temperatures["attributes"]) >= {"gender", "usage"}
    assert set(fitted["policy"]) == {f"{t:.2f}" for t in TARGETS}
    stricter = [fitted["policy"][f"{t:.2f}"]["category"]["leaf"] for t in TARGETS]
    assert stricter == sorted(stricter)  # a higher target never applies at a lower score
    assert set(fitted["held_out"]) == {"fashion-products", "clothing"}
    # Studio shots and everyday photos get a fit each (the handler tells them apart by their backdrop).
    assert set(fitted["photo_kinds"]) == {"studio", "everyday"}
    for kind in fitted["photo_kinds"].values():
        assert set(kind["policy"]) == set(fitted["policy"]) and 0.05 <= kind["temperatures"]["category"] <= 20
        slope, _ = kind["top"]["category"]  # the category's top scaling, which never flips the ranking
        assert 0.2 <= slope <= 5
    staged = stage_archives(checkpoint)
    try:
        config = yaml.safe_load((Path(staged.name) / "fashion-attributes" / "model-config.yaml").read_text())
        assert config["handler"]["calibration"] == {"temperatures": temperatures, "top": fitted["top"],
                                                    "policy": fitted["policy"], "photo_kinds": fitted["photo_kinds"]}
    finally:
        staged.cleanup()
