"""The device kit: parts within their budget, gathered on the other side into directories the training reads, with
photos no larger than the model sees them and of the same kind; the checkpoint comes back in pieces that fit."""
from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from PIL import Image

from handlers.images import CLOSE_UP, is_studio_shot
from kalas.dataset import read_records, shared_data
from scripts import device_kit, device_train
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
