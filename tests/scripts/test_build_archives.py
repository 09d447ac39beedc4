"""Building the archives: one command, self-contained archives, settings in the model config."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from handlers.archive import ATTRIBUTES, EMBEDDER
from handlers.models.efficientnet_lite import package_weights_path
from handlers.taxonomy import load_taxonomy
from scripts import build_archives


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_archives_are_self_contained_and_carry_their_settings(model_store: Path, pytestconfig: pytest.Config):
    checkpoint = pytestconfig.getoption("--checkpoint")
    meta = json.loads((checkpoint / "meta.json").read_text())
    taxonomy = load_taxonomy()
    for name, handler in ((ATTRIBUTES, "attributes_handler.py"), (EMBEDDER, "embedder_handler.py")):
        with zipfile.ZipFile(model_store / f"{name}.mar") as mar:
            manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]
            assert manifest["modelName"] == name and manifest["handler"] == handler
            # the model definitions, the backbone from its package and the trained heads travel inside
            assert {"handlers/models/fashion.py", "handlers/images.py", "handlers/base_handler.py"} <= set(mar.namelist())
            assert sha256(mar.read(manifest["serializedFile"])) == sha256(package_weights_path().read_bytes())
            assert sha256(mar.read("checkpoint/heads.pt")) == sha256((checkpoint / "heads.pt").read_bytes())
            settings = yaml.safe_load(mar.read(manifest["configFile"]))["handler"]
            labels = json.loads(mar.read(settings["labels"]))
        assert settings["top_k"] == 5 and settings["embedding_dim"] == meta["embedding_dim"]
        assert settings["preprocessing"]["image_size"] == 224
        # batching is a deployment setting (config.properties); a value here would silently override it
        assert not {"batchSize", "maxBatchDelay", "minWorkers", "maxWorkers"} & set(yaml.safe_load(
            zipfile.ZipFile(model_store / f"{name}.mar").read("model-config.yaml")))
        assert [c["label"] for c in labels["category"]] == meta["categories"]
        assert labels["category"][0]["name"] == taxonomy.name(meta["categories"][0])
        assert {g: [v["label"] for v in values] for g, values in labels["attributes"].items()} == meta["attributes"]


def test_the_command_builds_both_archives_and_knows_when_they_are_stale(tmp_path: Path, pytestconfig, capsys):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(pytestconfig.getoption("--checkpoint"), checkpoint)
    output = tmp_path / "store"
    built = build_archives.main(["--checkpoint", str(checkpoint), "--output", str(output), "--top-k", "3"])
    assert sorted(p.name for p in built) == ["fashion-attributes.mar", "fashion-embedder.mar"]
    assert "built" in capsys.readouterr().out
    with zipfile.ZipFile(output / "fashion-attributes.mar") as mar:
        assert yaml.safe_load(mar.read("model-config.yaml"))["handler"]["top_k"] == 3
    assert build_archives.up_to_date(output, checkpoint)
    later = (output / "fashion-attributes.mar").stat().st_mtime + 10
    os.utime(checkpoint / "heads.pt", (later, later))  # a retrained checkpoint
    assert not build_archives.up_to_date(output, checkpoint)


def test_a_missing_checkpoint_is_refused_with_its_path(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        build_archives.main(["--checkpoint", str(tmp_path / "nowhere"), "--output", str(tmp_path / "store")])
    assert "nowhere does not exist" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()
