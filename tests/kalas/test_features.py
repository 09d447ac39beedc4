"""The backbone-output cache: computed once per image, grown incrementally, keyed by everything it depends on."""
import shutil
from pathlib import Path

import pytest
import torch

from handlers.decoding import decode_image
from handlers.images import to_tensor
from handlers.models import INPUT_SIZE, MEAN, STD, load_efficientnet_lite
from kalas import features
from kalas.dataset import read_records
from kalas.features import augment, cache_dir, cached_features, load_cached


@pytest.fixture(scope="module")
def photos(shared_data: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    (root / "images").mkdir()
    source = read_records(shared_data / "clothing")[:4]
    lines = ["id,label,kids,sender_id"] + [f"{r.id},{r.labels['label']},False,1" for r in source]
    for r in source:
        shutil.copy(r.image, root / "images" / r.image.name)
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def test_cache_is_filled_once_and_grows_by_the_new_images_only(photos: Path, tmp_path: Path) -> None:
    backbone = load_efficientnet_lite()
    records = read_records(photos)
    directory = cache_dir(photos, 14, "sha", INPUT_SIZE, tmp_path)
    first = cached_features(records[:3], backbone, 14, directory, size=INPUT_SIZE, progress=False)
    assert first.shape == (3, 192, 7, 7) and first.dtype == torch.float16
    parts = set(directory.glob("part-*.pt"))
    again = cached_features(records[:3], backbone, 14, directory, size=INPUT_SIZE, progress=False)
    assert set(directory.glob("part-*.pt")) == parts and torch.equal(first, again)
    grown = cached_features(records, backbone, 14, directory, size=INPUT_SIZE, progress=False)
    new_parts = set(directory.glob("part-*.pt")) - parts
    assert len(new_parts) == 1 and torch.load(next(iter(new_parts)))["ids"] == [records[3].id]
    assert torch.equal(grown[:3], first) and set(load_cached(directory)) == {r.id for r in records}

    # The cached tensor is what the model's own forward computes for that photo (to fp16 precision).
    image = to_tensor([decode_image(records[3].image.read_bytes(), min_side=INPUT_SIZE)], INPUT_SIZE, MEAN, STD)
    with torch.no_grad():
        direct = backbone.stem_and_blocks(image, until=14)
    assert torch.allclose(grown[3].float(), direct[0], atol=2e-2, rtol=1e-2)


def test_cache_key_covers_directory_size_framing_split_block_and_weights(photos: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {cache_dir(photos, 14, "a", INPUT_SIZE, tmp_path), cache_dir(photos, 13, "a", INPUT_SIZE, tmp_path),
            cache_dir(photos, 14, "b", INPUT_SIZE, tmp_path), cache_dir(tmp_path, 14, "a", INPUT_SIZE, tmp_path),
            cache_dir(photos, 14, "a", INPUT_SIZE, tmp_path, view=1), cache_dir(photos, 14, "a", 260, tmp_path)}
    monkeypatch.setattr(features, "FRAMING", "another framing")  # as if handlers/images.py framed photos otherwise
    keys.add(cache_dir(photos, 14, "a", INPUT_SIZE, tmp_path))
    assert len(keys) == 7


def test_augmented_views_are_seeded_by_photo_and_view(photos: Path, tmp_path: Path) -> None:
    record = read_records(photos)[0]
    image = decode_image(record.image.read_bytes(), min_side=INPUT_SIZE)
    first, again, other = augment(image, record.id, 1), augment(image, record.id, 1), augment(image, record.id, 2)
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()
    w, h = image.size
    assert 0.5 * w * h <= first.width * first.height <= w * h

    backbone = load_efficientnet_lite()
    plain = cached_features([record], backbone, 14, cache_dir(photos, 14, "sha", INPUT_SIZE, tmp_path), size=INPUT_SIZE, progress=False)
    view = cached_features([record], backbone, 14, cache_dir(photos, 14, "sha", INPUT_SIZE, tmp_path, 1), view=1, size=INPUT_SIZE, progress=False)
    expected = to_tensor([first], INPUT_SIZE, MEAN, STD)
    with torch.no_grad():
        direct = backbone.stem_and_blocks(expected, until=14)
    assert not torch.equal(plain, view) and torch.allclose(view[0].float(), direct[0], atol=2e-2, rtol=1e-2)
