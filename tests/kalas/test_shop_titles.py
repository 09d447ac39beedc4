"""A shop's product names as its model's second input: what the photo cannot tell, the name can."""
from __future__ import annotations

import random

import numpy as np

from kalas.shop_heads import MIN_NAMED
from kalas.shop_model import Examples, ShopModel, train
from kalas.synthetic_vectors import ClusteredVectors

BRANDS = ["Nova", "Puma", "Lotto", "Fila", "Kappa", "Umbro"]
COLOURS = ["schwarz", "weiss", "blau", "rot"]


def shop(n: int = 900, seed: int = 0) -> Examples:
    """Three kinds of photo; the shoes (cluster 0) filed under "Herren-Schuhe" or "Damen-Schuhe" at random, which
    their photos do not show and their names do ("Herren Laufschuh Nova schwarz"). Tagged "sale" when the name
    says "Sale"."""
    rng = random.Random(seed)
    vectors, cluster = ClusteredVectors(64, 3, noise=0.6, seed=seed).sample(n)
    categories, titles, tags = [], [], []
    for c in cluster.tolist():
        kind = {0: "Laufschuh", 1: "Kleid", 2: "Tasche"}[c]
        gender = rng.choice(["Herren", "Damen"])
        sale = rng.random() < 0.3
        categories.append(f"{gender}-Schuhe" if c == 0 else {1: "Kleider", 2: "Taschen"}[c])
        titles.append(f"{gender} {kind} {rng.choice(BRANDS)} {rng.choice(COLOURS)}" + (" Sale" if sale else ""))
        tags.append(["sale"] * sale)
    return Examples([f"p{i}" for i in range(n)], vectors.astype(np.float32), categories, tags, titles)


def _top1(model: ShopModel, examples: Examples, titles) -> float:
    category, _ = model.probabilities(examples.features, titles)
    return float(np.mean([model.categories[i] == c for i, c in zip(category.argmax(axis=1), examples.categories)]))


def test_a_name_tells_what_the_photo_cannot_and_the_report_scores_both():
    everything = shop(n=1500)
    model, report = train(everything.subset(np.arange(900)))
    assert model.titles is not None
    photo, named = report["held_out"], report["held_out_named"]
    assert named["products"] == photo["products"] > 100
    assert named["category_top1"] >= 0.97 > photo["category_top1"] and named["tag_micro_f1"] >= 0.95
    assert named["categories"]["Herren-Schuhe"]["recall"] >= 0.9
    # New shoes: the model reads their names when given them, and only then.
    shoes = everything.subset(np.array([i for i in range(900, 1500) if everything.categories[i].endswith("-Schuhe")]))
    assert _top1(model, shoes, shoes.titles) >= 0.95 > 0.75 > _top1(model, shoes, None)  # a coin toss from the photo


def test_a_photo_without_a_name_or_with_none_of_the_shops_words_is_answered_as_the_photo_alone_says():
    examples = shop()
    model, _ = train(examples)
    without, _ = model.probabilities(examples.features[:6])
    some = [None, "", "Xyzzy Quux 42", *examples.titles[3:6]]  # none, empty, none of the shop's words, its names
    mixed, _ = model.probabilities(examples.features[:6], some)
    np.testing.assert_array_equal(mixed[:3], without[:3])
    assert not np.allclose(mixed[3:], without[3:])
    assert [p.named for p in model.predict(examples.features[:6], some)] == [False] * 3 + [True] * 3


def test_the_pool_weighs_the_name_by_what_it_tells_and_is_stored_with_the_model():
    examples = shop(n=1500)  # held-out products enough for the pool to sharpen as well as soften
    model, report = train(examples)
    (photo, name), _ = model.titles.weights
    assert name > photo  # the name tells the shoes' gender, which the photo cannot
    assert report["held_out_named"]["category_ece"] <= 0.05
    # Names that tell nothing (words drawn at random): the pool leans on the photo, and reading them costs nothing.
    rng = random.Random(3)
    noise = Examples(examples.ids, examples.features, examples.categories, examples.tags,
                     [" ".join(rng.sample(BRANDS + COLOURS + ["Modell", "Neu", "Sale"], 3)) for _ in examples.ids])
    plain, told = train(noise)
    (photo, name), _ = plain.titles.weights
    assert name < photo and told["held_out_named"]["category_top1"] >= told["held_out"]["category_top1"] - 0.01
    again = ShopModel.from_arrays(model.to_arrays())
    assert again.titles.weights == model.titles.weights
    for a, b in zip(model.probabilities(examples.features[:20], examples.titles[:20]),
                    again.probabilities(examples.features[:20], examples.titles[:20])):
        np.testing.assert_array_equal(a, b)


def test_too_few_names_learn_no_names_and_a_model_stored_before_names_still_answers():
    examples = shop(n=300)
    sparse = Examples(examples.ids, examples.features, examples.categories, examples.tags,
                      [t if i < MIN_NAMED else None for i, t in enumerate(examples.titles)])
    model, report = train(sparse)  # enough names in all, too few in the 80 % learned from: nothing scored them
    assert model.titles is None and report["held_out_named"] is None
    stored = {k: v for k, v in train(examples)[0].to_arrays().items()
              if not k.startswith(ShopModel.TITLE_PREFIX) and k != "title_temperatures"}
    old = ShopModel.from_arrays(stored)
    assert old.titles is None
    category, _ = old.probabilities(examples.features[:5], examples.titles[:5])
    assert category.shape == (5, 4)
