"""Building the archives: one command, self-contained archives, settings in the model config."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from handlers.archive import ATTRIBUTES, EMBEDDER
from handlers.in_process import open_archive
from handlers.models import LITE0
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
            assert sha256(mar.read(manifest["serializedFile"])) == sha256(LITE0.weights_path().read_bytes())
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


@pytest.fixture(scope="module")
def mmfashion_vgg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MMFashion VGG-16 attribute+category+retrieval checkpoint in mmcv's runner format (random weights)."""
    from handlers.models.mmfashion import MMFashionSpec, build_mmfashion_model, save_mmfashion_checkpoint

    torch.manual_seed(0)
    spec = MMFashionSpec(arch="vgg16", pool_hidden=64, pool_out=64, attributes=12, categories=5, embedding=16, ids=9)
    path = tmp_path_factory.mktemp("mmfashion") / "latest.pth"
    save_mmfashion_checkpoint(build_mmfashion_model(spec), path, meta={"epoch": 50, "mmcv_version": "0.2.10"})
    return path


@pytest.mark.slow
def test_an_mmfashion_checkpoint_builds_archives_that_serve_it(mmfashion_vgg: Path, tmp_path: Path, shared_data):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"category": [f"cat{i}" for i in range(5)], "attributes": [f"a{i}" for i in range(12)]}))
    built = build_archives.main(["--mmfashion-checkpoint", str(mmfashion_vgg), "--mmfashion-arch", "vgg16",
                                 "--mmfashion-labels", str(labels), "--output", str(tmp_path / "store")])
    assert sorted(p.name for p in built) == ["fashion-attributes.mar", "fashion-embedder.mar"]
    photo = next((shared_data / "clothing" / "images").glob("*.jpg")).read_bytes()
    [(status, annotation)] = open_archive(tmp_path / "store", ATTRIBUTES).handle([photo])
    assert status == 200
    assert len(annotation["category"]) == 5 and {c["label"] for c in annotation["category"]} == {f"cat{i}" for i in range(5)}
    assert set(annotation["attributes"]) == {"attributes"}  # one multi-label head, sigmoid per attribute
    assert all(a["label"].startswith("a") and a["score"] >= 0.3 for a in annotation["attributes"]["attributes"])
    [(status, embedding)] = open_archive(tmp_path / "store", EMBEDDER).handle([photo])
    assert status == 200 and embedding["dim"] == 16 and len(embedding["embedding"]) == 16
    assert "signals" not in annotation and "signals" not in embedding  # no per-group heads: an MMFashion model has none


def test_an_mmfashion_checkpoint_of_the_other_architecture_is_refused(mmfashion_vgg: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        build_archives.main(["--mmfashion-checkpoint", str(mmfashion_vgg), "--mmfashion-arch", "resnet50",
                             "--output", str(tmp_path / "store")])
    assert "is an MMFashion vgg16 checkpoint, not resnet50" in capsys.readouterr().err


def test_a_bf16_archive_answers_as_the_float32_one_does_under_its_own_digest(model_store: Path, tmp_path: Path,
                                                                             pytestconfig, shared_data: Path):
    output = tmp_path / "store"
    build_archives.main(["--checkpoint", str(pytestconfig.getoption("--checkpoint")), "--output", str(output),
                         "--precision", "bf16"])
    with zipfile.ZipFile(output / f"{EMBEDDER}.mar") as mar:
        assert yaml.safe_load(mar.read("model-config.yaml"))["handler"]["precision"] == "bf16"
    photo = sorted((shared_data / "clothing" / "images").glob("*.jpg"))[0].read_bytes()
    (_, bf16), = open_archive(output, EMBEDDER).handle([photo])
    (_, fp32), = open_archive(model_store, EMBEDDER).handle([photo])
    assert sum(a * b for a, b in zip(bf16["embedding"], fp32["embedding"])) > 0.99
    assert bf16["model"]["digest"] != fp32["model"]["digest"]  # its vectors are not float32's
