"""Which taxonomy terms a query names, and the photos' probability of them."""
from __future__ import annotations

import json

import numpy as np

from handlers.archive import DEFAULT_CHECKPOINT
from handlers.query_terms import Lexicon, term_columns, term_probabilities
from handlers.signals import signal_terms
from handlers.taxonomy import load_taxonomy


def test_a_query_of_names_alone_is_read_into_terms_and_other_words_make_it_a_description() -> None:
    lexicon = Lexicon.of(load_taxonomy())
    assert lexicon.read("Kurtas").terms == ("category:kurta",) and lexicon.read("Kurtas").whole
    navy = lexicon.read("Navy Blue")  # the longest name wins: not "blue"
    assert navy.terms == ("colour:navy",) and navy.whole
    shirts = lexicon.read("Men's striped SHIRTS")
    assert shirts.whole and set(shirts.terms) == {"gender:men", "pattern:striped", "category:shirt"}
    title = lexicon.read("Nike Men Striped Navy Blue T-shirt")
    assert not title.whole and "colour:navy" in title.terms and "category:tshirt" in title.terms
    assert lexicon.read("hemd").terms == () and not lexicon.read("hemd").whole


def test_a_groups_probability_is_the_sum_of_its_leaves_and_terms_the_model_lacks_are_left_out() -> None:
    taxonomy = load_taxonomy()
    layout = signal_terms(json.loads((DEFAULT_CHECKPOINT / "meta.json").read_text()))
    footwear = term_columns("category:footwear", layout, taxonomy)
    assert len(footwear) > 3 and all(layout[c].startswith("category:") for c in footwear)
    signals = np.zeros((2, len(layout)), dtype=np.float32)
    signals[0, footwear[0]] = 0.6
    signals[0, footwear[1]] = 0.3
    signals[1, layout.index("colour:navy")] = 0.8
    assert np.allclose(term_probabilities(["category:footwear"], signals, layout, taxonomy), [0.9, 0.0])
    signals[1, footwear[2]] = 0.5
    assert np.allclose(term_probabilities(["category:footwear", "colour:navy"], signals, layout, taxonomy), [0.0, 0.4])
    assert term_probabilities(["category:no-such"], signals, layout, taxonomy) is None
