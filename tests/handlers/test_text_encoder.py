"""The text encoder's tokens, its vectors, and its files."""
from __future__ import annotations

import numpy as np
import pytest

from handlers.text_encoder import TextEncoder, tokens


def test_tokens_are_case_folded_words_of_any_script_and_their_neighbouring_pairs() -> None:
    assert tokens("Herren T-Shirt, GESTREIFT") == ["herren", "t", "shirt", "gestreift", "herren t", "t shirt", "shirt gestreift"]
    assert tokens("  ") == [] and tokens("!!!") == []


def test_a_query_is_the_normalised_mean_of_its_known_tokens_and_unknown_words_give_zeros(tmp_path) -> None:
    weights = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=np.float32)
    encoder = TextEncoder({"red": 0, "shirt": 1, "red shirt": 2}, weights, "digest-1", {})
    red_shirt = encoder.encode(["Red shirt"])[0]
    assert np.allclose(red_shirt, np.array([1, 1, 2]) / np.linalg.norm([1, 1, 2]), atol=1e-6)
    assert not encoder.encode(["völlig unbekannt"]).any()
    encoder.save(tmp_path)
    loaded = TextEncoder.load(tmp_path)
    assert loaded.embedder_digest == "digest-1" and loaded.vocabulary == encoder.vocabulary
    assert np.allclose(loaded.encode(["red shirt"]), encoder.encode(["red shirt"]), atol=1e-3)  # stored as float16


def test_a_broken_encoder_directory_says_what_is_wrong(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="encoder.npy is missing"):
        TextEncoder.load(tmp_path)
    TextEncoder({"a": 0, "b": 1}, np.ones((2, 4), dtype=np.float32), "d", {}).save(tmp_path)
    np.save(tmp_path / "encoder.npy", np.ones((3, 4), dtype=np.float16))
    with pytest.raises(ValueError, match=r"shape \(3, 4\); meta.json names 2 tokens"):
        TextEncoder.load(tmp_path)
