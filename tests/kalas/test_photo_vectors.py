"""The real vectors the retrieval benchmark measures: the photos as served, and views of them a pass at a time."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handlers.archive import EMBEDDER
from handlers.in_process import ServedModel
from kalas import photo_vectors as module
from kalas.dataset import read_records
from kalas.photo_vectors import augmented_view, photo_vectors, photo_views

# Four garments that look nothing alike, so each view's nearest photo should be its own.
ARTICLES = ("Tshirts", "Casual Shoes", "Handbags", "Watches")


@pytest.fixture(scope="module")
def photos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory of one photo of each of ARTICLES, in the shared layout (a temporary copy, not the project's)."""
    chosen = {}
    for record in read_records(shared_data / "fashion-products"):
        chosen.setdefault(record.labels["articleType"], record)
        if all(article in chosen for article in ARTICLES):
            break
    root = tmp_path_factory.mktemp("four-photos")
    (root / "images").mkdir()
    lines = ["id,articleType"]
    for article in ARTICLES:
        record = chosen[article]
        shutil.copy(record.image, root / "images" / f"{record.id}.jpg")
        lines.append(f"{record.id},{article}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def test_a_view_is_a_seeded_crop_of_the_photo(shared_data: Path):
    image = Image.open(read_records(shared_data / "fashion-products")[0].image).convert("RGB")
    first = augmented_view(image, np.random.default_rng([1, 7]))
    again = augmented_view(image, np.random.default_rng([1, 7]))
    other = augmented_view(image, np.random.default_rng([2, 7]))
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert first.size != other.size or not np.array_equal(np.asarray(first), np.asarray(other))
    for seed in range(50):
        width, height = augmented_view(image, np.random.default_rng([seed, 0])).size
        assert width <= image.width and height <= image.height
        assert 0.6 * 0.99 <= width * height / (image.width * image.height) <= 1.0


def test_views_follow_the_photos_pass_by_pass_and_a_saved_pass_is_never_embedded_again(
        photos: Path, served_models: dict[str, ServedModel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    served = served_models[EMBEDDER]
    served_photos = photo_vectors(served, [photos], root=tmp_path)
    views = photo_views(served, [photos], 10, root=tmp_path)  # 4 photos: passes 0 and 1 whole, half of pass 2

    assert views.shape == (10, served.handler.dim)
    np.testing.assert_allclose(np.linalg.norm(views, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(views[:4], served_photos)  # pass 0: the photos as the embedder answers them
    for row in range(4, 10):
        own = row % 4
        assert not np.allclose(views[row], served_photos[own])  # another view, not the photo again
        assert int(np.argmax(served_photos @ views[row])) == own, f"view {row} is nearer another garment"

    embedded = []
    monkeypatch.setattr(module, "_embed_views", lambda served, paths, number: embedded.append(number))
    assert np.array_equal(photo_views(served, [photos], 10, root=tmp_path), views)
    assert embedded == []  # read back, not embedded
    (saved,) = tmp_path.glob("views-*/pass-002.npy")
    saved.unlink()
    monkeypatch.undo()
    assert np.array_equal(photo_views(served, [photos], 10, root=tmp_path), views)  # the same seeds, the same views


def test_a_pass_is_claimed_by_one_living_process_at_a_time(tmp_path: Path):
    assert module._claim(tmp_path, 1) is not None  # free: this process's now
    assert (tmp_path / "pass-001.claim").read_text() == str(os.getpid())

    with subprocess.Popen(["sleep", "30"]) as other:
        (tmp_path / "pass-002.claim").write_text(str(other.pid))
        assert module._claim(tmp_path, 2) is None  # held by a living process
        other.kill()
        other.wait()
    assert module._claim(tmp_path, 2) is not None  # its process is gone: taken over
    assert (tmp_path / "pass-002.claim").read_text() == str(os.getpid())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pass-001.claim", "pass-002.claim"]  # no leftovers
