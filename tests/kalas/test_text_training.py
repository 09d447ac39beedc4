"""Training the text encoder: deterministic, and it learns to rank photos by the words of their labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from handlers.taxonomy import load_taxonomy
from kalas.dataset import Record
from kalas.text_training import describe, train_text_encoder

ARTICLES = {"Shirts": 0, "Tshirts": 1, "Jeans": 2}
COLOURS = {"Red": 3, "Blue": 4, "Black": 5}
PATTERNS = {"Striped": 6, "Solid": 7, "Checked": 8}


def synthetic_shop(count: int, seed: int) -> tuple[list[Record], np.ndarray]:
    """Products of three articles, colours and patterns whose photos' vectors point along their labels' axes."""
    rng = np.random.default_rng(seed)
    records, vectors = [], []
    for i in range(count):
        article, colour, pattern = (rng.choice(list(d)) for d in (ARTICLES, COLOURS, PATTERNS))
        title = f"Brand{i % 7} Men {pattern} {colour} {article}"
        records.append(Record(id=f"{seed}-{i}", image=Path("unused.jpg"),
                              labels={"title": title, "gender": "Men", "masterCategory": "Apparel", "subCategory": "Topwear",
                                      "articleType": article, "baseColour": colour, "season": "Fall", "year": "2012",
                                      "usage": "Casual"}))
        vector = np.zeros(16, dtype=np.float32)
        vector[[ARTICLES[article], COLOURS[colour], PATTERNS[pattern]]] = 1.0
        vector += rng.normal(0, 0.15, 16).astype(np.float32)
        vectors.append(vector / np.linalg.norm(vector))
    return records, np.stack(vectors)


def trained(seed: int = 0):
    records, vectors = synthetic_shop(300, seed=1)
    taxonomy = load_taxonomy()
    photos = [describe(record, row, taxonomy) for row, record in enumerate(records)]
    return train_text_encoder(photos, vectors, "digest", epochs=8, batch_size=64, seed=seed)


def test_the_same_data_and_seed_give_the_same_encoder_bit_for_bit() -> None:
    first, second = trained(), trained()
    assert first.vocabulary == second.vocabulary
    assert np.array_equal(first.weights, second.weights)
    assert not np.array_equal(first.weights, trained(seed=1).weights)


def test_a_query_of_label_words_ranks_the_photos_that_have_them_first() -> None:
    encoder = trained()
    records, gallery = synthetic_shop(120, seed=2)  # photos the encoder never saw
    for query, wanted in (("striped shirt", ("Striped", "Shirts")), ("blue jeans", ("Blue", "Jeans"))):
        scores = gallery @ encoder.encode([query])[0]
        best = [records[i].labels for i in np.argsort(-scores)[:5]]
        assert all(wanted[0] in (b["baseColour"], b["title"].split()[2]) and b["articleType"] == wanted[1] for b in best), (query, best)
