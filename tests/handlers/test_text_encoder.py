"""The text encoder's tokens, its vectors, and its files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from handlers.sentence_model import SentenceModel
from handlers.text_encoder import SENTENCE_WEIGHT, TextEncoder, project, tokens


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


def test_the_packaged_sentence_model_reads_any_words_from_its_registry_packages_alone() -> None:
    model = SentenceModel.load()
    vectors = model.encode(["striped shirt", "a shirt with stripes", "black leather handbag", "striped shirt"])
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[3]) and np.allclose(model.encode(["striped shirt"])[0], vectors[0], atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # a paraphrase is nearer than another thing


def test_with_a_sentence_model_every_text_gets_a_vector_mixed_from_both_readers(tmp_path) -> None:
    sentence = SentenceModel.load()
    rng = np.random.default_rng(0)
    projection = rng.normal(size=(385, 3)).astype(np.float32)
    weights = np.eye(3, dtype=np.float32)
    encoder = TextEncoder({"red": 0, "shirt": 1, "red shirt": 2}, weights, "digest-1",
                          {"sentence": {"digest": sentence.digest, "weight": SENTENCE_WEIGHT}}, projection, sentence)
    mixed, bag, read = encoder.encode(["red shirt"])[0], encoder.encode_words(["red shirt"])[0], \
        project(sentence.encode(["red shirt"]), projection)[0]
    expected = (1 - SENTENCE_WEIGHT) * bag + SENTENCE_WEIGHT * read
    assert np.allclose(mixed, expected / np.linalg.norm(expected), atol=1e-5)
    unknown = encoder.encode(["völlig unbekannt"])[0]  # no known word: the sentence model's reading alone
    assert np.allclose(np.linalg.norm(unknown), 1.0, atol=1e-5) and encoder.unknown_words("völlig unbekannt") == ["völlig", "unbekannt"]
    encoder.save(tmp_path)
    loaded = TextEncoder.load(tmp_path)
    assert loaded.sentence is not None and np.allclose(loaded.encode(["red shirt"]), encoder.encode(["red shirt"]), atol=2e-3)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["sentence"]["digest"] = "0" * 64
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="another sentence network"):
        TextEncoder.load(tmp_path)
