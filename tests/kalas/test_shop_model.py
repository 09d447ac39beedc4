"""The per-shop model on seeded clustered vectors: what it learns, what it refuses, how it is stored."""
from __future__ import annotations

import numpy as np
import pytest

from kalas.shop_model import MIN_EXAMPLES, Examples, NotEnoughExamples, ShopModel, is_held_out, train
from kalas.synthetic_vectors import ClusteredVectors


def shop(n: int = 600, clusters: int = 4, seed: int = 0) -> Examples:
    """Products in `clusters` categories ("Kat-<c>"); the even clusters tagged "gerade", cluster 0 also "null"."""
    vectors, cluster = ClusteredVectors(64, clusters, noise=0.6, seed=seed).sample(n)
    tags = [["gerade"] * int(c % 2 == 0) + ["null"] * int(c == 0) for c in cluster.tolist()]
    return Examples([f"p{i}" for i in range(n)], vectors.astype(np.float32), [f"Kat-{c}" for c in cluster], tags)


def test_learns_the_shops_terms_and_scores_them_on_held_out_products():
    model, report = train(shop())
    assert model.categories == ["Kat-0", "Kat-1", "Kat-2", "Kat-3"]
    assert model.tags == ["gerade", "null"]
    held = report["held_out"]
    assert held["products"] == sum(is_held_out(f"p{i}") for i in range(600)) > 80
    assert held["category_top1"] >= 0.95 and held["tag_micro_f1"] >= 0.95
    assert set(held["categories"]) == set(model.categories)
    assert all(0.9 <= held["categories"][c]["recall"] <= 1.0 for c in model.categories)
    assert report["products"] == 600 and report["train_seconds"] > 0


def test_answers_calibrated_scores_best_first():
    examples = shop()
    model, _ = train(examples)
    [prediction] = model.predict(examples.features[:1])
    assert prediction.categories[0][0] == examples.categories[0]
    scores = [s for _, s in prediction.categories]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-4
    category, tags = model.probabilities(examples.features[:50])
    assert category.shape == (50, 4) and tags.shape == (50, 2) and ((0 <= tags) & (tags <= 1)).all()


def test_terms_with_too_few_products_are_left_out_and_a_shop_without_any_refused():
    examples = shop(n=200)
    rare = Examples(examples.ids, examples.features, examples.categories,
                    [t + ["selten"] * (i < MIN_EXAMPLES - 1) for i, t in enumerate(examples.tags)])
    model, report = train(rare)
    assert "selten" not in model.tags and report["terms"]["tags"]["selten"] == MIN_EXAMPLES - 1
    few = rare.subset(np.arange(MIN_EXAMPLES - 1))
    few = Examples(few.ids, few.features, [f"x{i}" for i in range(len(few.ids))], [[] for _ in few.ids])
    with pytest.raises(NotEnoughExamples, match=f"no category or tag has {MIN_EXAMPLES} products"):
        train(few)


def test_stored_arrays_answer_exactly_as_the_trained_model():
    examples = shop()
    model, _ = train(examples)
    again = ShopModel.from_arrays(model.to_arrays())
    for a, b in zip(model.probabilities(examples.features[:20]), again.probabilities(examples.features[:20])):
        np.testing.assert_array_equal(a, b)


def test_bad_input_is_refused_with_what_is_wrong():
    examples = shop(n=100)
    model, _ = train(examples)
    with pytest.raises(ValueError, match=r"the model reads \[B, 64\]"):
        model.probabilities(np.zeros((1, 32), np.float32))
    with pytest.raises(ValueError, match="examples disagree in length"):
        Examples(["a", "b"], np.zeros((3, 4), np.float32), [None, None], [[], []])
