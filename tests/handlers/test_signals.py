"""The heads' probabilities as one vector, and the joint space that shop models and text search read."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handlers.signals import joint, joint_scores, signal_terms, signals


def test_signals_are_each_heads_softmax_in_one_fixed_order_from_either_form_of_the_heads() -> None:
    rng = np.random.default_rng(0)
    category, gender, pattern, colour = (rng.normal(size=(2, n)).astype(np.float32) for n in (4, 3, 2, 5))
    nested = {"category": torch.from_numpy(category), "embedding": torch.zeros(2, 8),
              "attributes": {"gender": torch.from_numpy(gender), "pattern": torch.from_numpy(pattern)},
              "colour": torch.from_numpy(colour)}
    flat = {"embedding": np.zeros((2, 8)), "category": category, "attributes.gender": gender,
            "attributes.pattern": pattern, "colour": colour}
    rows = signals(nested)
    assert rows.shape == (2, 14) and np.allclose(rows, signals(flat), atol=1e-6)
    for start, stop in ((0, 4), (4, 7), (7, 9), (9, 14)):  # one distribution per head
        assert np.allclose(rows[:, start:stop].sum(axis=1), 1.0, atol=1e-5)
    assert np.argmax(rows[0, 4:7]) == np.argmax(gender[0])
    assert signals({"attributes": torch.zeros(2, 26), "embedding": torch.zeros(2, 8)}) is None  # MMFashion
    meta = {"categories": ["tshirt", "shirt", "jeans", "dress"], "attributes": {"gender": ["men", "women", "unisex"],
            "pattern": ["solid", "striped"]}, "colours": ["black", "white", "navy", "red", "blue"]}
    terms = signal_terms(meta)
    assert len(terms) == 14 and terms[0] == "category:tshirt" and terms[4] == "gender:men" and terms[13] == "colour:blue"


def test_joint_scores_from_an_index_cosine_and_the_signals_equal_the_joint_vectors_inner_product() -> None:
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(6, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    signal_rows = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    vectors = joint(embeddings, signal_rows)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    query = rng.normal(size=13).astype(np.float32)
    query /= np.linalg.norm(query)
    cosines = embeddings @ (query[:8] / np.linalg.norm(query[:8]))
    assert np.allclose(joint_scores(query, cosines, signal_rows, 8), vectors @ query, atol=1e-5)
    with pytest.raises(ValueError, match="not one row per photo"):
        joint(embeddings, signal_rows[:3])
