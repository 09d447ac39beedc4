"""The demo gallery knows which model embedded it: a gallery from other weights or framing is rebuilt, not served."""
from __future__ import annotations

import numpy as np

from handlers import images
from index import CatalogueIndex, CatalogueStore
from scripts.demo_gallery import DEMO_CATALOGUE, embedder_digest, is_current, needs_build, stamp_model


def small_gallery(store: CatalogueStore) -> None:
    vectors = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    store.replace(DEMO_CATALOGUE, CatalogueIndex.build(8, ["a", "b", "c"], vectors))


def test_a_gallery_is_current_only_for_the_weights_that_stamped_it(tmp_path) -> None:
    store = CatalogueStore(tmp_path)
    weights = embedder_digest()
    assert len(weights) == 64 and not is_current(store, weights)  # no gallery yet
    small_gallery(store)
    assert not is_current(store, weights)  # built before stamps: unknown weights
    stamp_model(store, weights)
    assert is_current(store, weights) and not is_current(store, "0" * 64)
    store.drop(DEMO_CATALOGUE)
    assert not is_current(store, weights)  # the stamp goes with the gallery


def test_a_gallery_of_other_weights_is_dropped_and_the_new_build_stamped(tmp_path) -> None:
    store, weights = CatalogueStore(tmp_path), embedder_digest()
    assert needs_build(store, weights) == "there is none yet" and not store.exists(DEMO_CATALOGUE)
    small_gallery(store)
    assert needs_build(store, weights) is None  # stamped by the build above: kept
    assert needs_build(store, None) is None  # weights unknown (a server embeds): kept
    stamp_model(store, "0" * 64)
    assert needs_build(store, weights) == "it was embedded by another model (other weights or framing)"
    assert not store.exists(DEMO_CATALOGUE) and (tmp_path / DEMO_CATALOGUE / "model.sha256").read_text().strip() == weights
    small_gallery(store)
    assert needs_build(store, weights, rebuild=True) == "a rebuild was asked for" and not store.exists(DEMO_CATALOGUE)


def test_the_digest_names_the_framing_as_well_as_the_weights(monkeypatch) -> None:
    digest = embedder_digest()
    monkeypatch.setattr(images, "FRAMING", "another framing")  # as if handlers/images.py framed photos otherwise
    assert embedder_digest() != digest and len(embedder_digest()) == 64
