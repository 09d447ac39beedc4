"""A shop's own model: its categories (one per product) and its tags (any number), learned from its catalogue.

    examples = Examples(ids, features, categories, tags)  # per photo: its product, feature row, terms
    model, report = train(examples)                       # held-out scores of that training in `report`
    model.predict(features) -> list[Prediction]           # calibrated scores of the shop's own terms
    ShopModel.from_arrays(model.to_arrays())              # what MongoDB stores (numpy arrays as bytes)

Its features are what every catalogue product already has stored from the model server: each photo's joint
vector, the served embedding beside the heads' probabilities (handlers/signals.py `joint`; the embedding alone for
products stored before their signals were, api/domain/shop_models.py), so a shop's model trains from the database
in seconds and answers in well under a millisecond, with no model server call of its own. The signals carry what
the embedding keeps little of (a pattern, men's from unisex): measured, the joint vector gained 9.6 points of tag
micro-F1 on pattern tags and 3.5 of top-1 at 20 products per category over the embedding alone. Two learners read
the features and their probabilities are averaged (measured in docs/benchmarks.md, "Shop models"):
- a similarity-weighted vote of the K nearest catalogue products (it knows every product, and is right on near
  duplicates: a shop's colourways of one article);
- a logistic head per term set (multinomial over the categories; one-vs-rest over the tags), which generalises
  across products where the neighbours disagree.
Scores are then calibrated: a temperature on the category's log-probabilities and one on the tags' log-odds,
fitted on the held-out products of the same training, so that a category scored 0.9 is right about 9 times in 10
and the trust-loop policy's target precision can be read off them. A product's name, where it has one, is a second
input (kalas/shop_heads.py, `TitleHead`: a store product's name says what the photo may not, men's or unisex): its
heads' answer is pooled with the photo's by two weights fitted the same way (`TitleHead.pooled`).

A training splits the shop's products by id hash (HELD_OUT_FRACTION), learns on the rest, scores the held-out
products (the report: kalas/shop_scoring.py), fits the temperatures and the pool's weights on them, then learns
again on every product with those settings.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from kalas.dataset import is_validation
from kalas.shop_heads import (TitleHead, category_head, log_odds, log_probabilities, named, sigmoid, softmax,
                              tag_heads, title_head)
from kalas.shop_scoring import calibrate, named_figures, score

# Chosen on the simulated shops of scripts/bench_shop_model.py (docs/benchmarks.md, "Shop models"): 5 neighbours
# voted better than 10 or 20 in both shops; the heads gained up to C = 10; a quarter of the vote in the average
# gained a little over either alone.
K = 5
HELD_OUT_FRACTION = 0.2
# The logistic heads' inverse regularisation strength, on features scaled by FEATURE_SCALE (the features are unit
# rows: an embedding's coordinates are about 1/16 each, a joint vector's about 1/19). Kept for the joint vector:
# C from 3 to 30 gave the same figures there, since at its TOL (kalas/shop_heads.py) the optimiser stops before
# the penalty binds.
C = 10.0
FEATURE_SCALE = 4.0
FEW_PHOTOS = 16  # answered on one BLAS thread
KNN_WEIGHT = 0.25  # the vote's share of the averaged probability (the head has the rest)
MIN_EXAMPLES = 5  # a term with fewer products is not learned (the console says how many more it needs)


@dataclass(frozen=True)
class Examples:
    """Per photo: its product's id (the held-out split's key), its feature row, the product's category (or None),
    its tags, and its name (None: no names at all, or per row None when that product has none)."""

    ids: list[str]
    features: np.ndarray  # [N, D] float32
    categories: list[str | None]
    tags: list[list[str]]
    titles: list[str | None] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.features.ndim != 2 or self.features.shape[0] != n or len(self.categories) != n or len(self.tags) != n \
                or (self.titles is not None and len(self.titles) != n):
            raise ValueError(f"examples disagree in length: {n} ids, features {self.features.shape}, "
                             f"{len(self.categories)} categories, {len(self.tags)} tag lists, "
                             f"{'no' if self.titles is None else len(self.titles)} names")

    def subset(self, rows: np.ndarray) -> "Examples":
        return Examples([self.ids[i] for i in rows], self.features[rows], [self.categories[i] for i in rows],
                        [self.tags[i] for i in rows], None if self.titles is None else [self.titles[i] for i in rows])


def is_held_out(product_id: str, fraction: float = HELD_OUT_FRACTION) -> bool:
    """A stable split by id hash: a product is held out at every training or at none. The same hash as the
    served model's own validation split (kalas/dataset.py), so that on the shared data a shop's held-out products
    are mostly photos the served model never trained on (its 15 % lie inside these 20 %)."""
    return is_validation(product_id, fraction)


def term_counts(examples: Examples) -> tuple[dict[str, int], dict[str, int]]:
    """(products per category, products per tag)."""
    categories: dict[str, int] = {}
    tags: dict[str, int] = {}
    for category, product_tags in zip(examples.categories, examples.tags):
        if category is not None:
            categories[category] = categories.get(category, 0) + 1
        for tag in set(product_tags):
            tags[tag] = tags.get(tag, 0) + 1
    return categories, tags


@dataclass
class Prediction:
    """The shop's own terms for one photo: categories best first (all of them, scored), tags scored; `named`:
    whether its product's name was read (given, the model learned names, and it holds a word of them)."""

    categories: list[tuple[str, float]]
    tags: list[tuple[str, float]]
    named: bool = False


@dataclass
class ShopModel:
    categories: list[str]
    tags: list[str]
    memory: np.ndarray  # [N, D] float32: the training products' features (the vote's neighbours)
    memory_category: np.ndarray  # [N] int: index in `categories`, -1 for none
    memory_tags: np.ndarray  # [N, T] bool
    category_coef: np.ndarray  # [D, C] (empty when fewer than two categories)
    category_bias: np.ndarray  # [C]
    tag_coef: np.ndarray  # [D, T]
    tag_bias: np.ndarray  # [T]
    category_temperature: float = 1.0
    tag_temperature: float = 1.0
    settings: dict = field(default_factory=lambda: {"k": K, "knn_weight": KNN_WEIGHT, "c": C})
    titles: TitleHead | None = None  # the names' heads: None when the shop's products had too few names

    # -- answering ---------------------------------------------------------------------------------------------
    def probabilities(self, features: np.ndarray, titles: list[str | None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated ([B, C] category probabilities, [B, T] tag probabilities) for [B, D] features and, where
        given, each photo's product name (read only when the model learned its shop's names)."""
        return self._scored(features, titles)[:2]

    def _scored(self, features: np.ndarray, titles: list[str | None] | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`probabilities`, and [B] bool: which photos' names were read."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.memory.shape[1]:
            raise ValueError(f"features of shape {features.shape}; the model reads [B, {self.memory.shape[1]}]")
        if len(features) <= FEW_PHOTOS:
            # OpenBLAS's threads cost more than they save on a few photos, on a busy machine many times more:
            # measured on a 7,446-product shop, one photo took 0.63 ms on one thread and 7-11 ms on two.
            with _blas().limit(limits=1, user_api="blas"):
                return self._probabilities(features, titles)
        return self._probabilities(features, titles)

    def _probabilities(self, features: np.ndarray, titles: list[str | None] | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        photo_c, photo_t = self._photo(features)
        category = _calibrated_softmax(photo_c, self.category_temperature)
        tags = _calibrated_sigmoid(photo_t, self.tag_temperature)
        read = np.zeros(len(features), dtype=bool)
        rows, name_c, name_t = self._names(titles, len(features))
        if len(rows):  # the photo's and the name's experts pooled (kalas/shop_heads.py `TitleHead.pooled`)
            read[rows] = True
            category[rows], tags[rows] = self.titles.pooled(photo_c[rows], photo_t[rows], name_c, name_t)
        return category, tags, read

    def _photo(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The photo's expert before its temperatures: the heads' and the vote's probabilities mixed."""
        votes_c, votes_t = self._votes(features)
        head_c, head_t = self._heads(features)
        w = self.settings["knn_weight"]
        return (1 - w) * head_c + w * votes_c, (1 - w) * head_t + w * votes_t

    def _names(self, titles: list[str | None] | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the rows whose names were read, the name's category logits and tag logits for those rows)."""
        rows = np.flatnonzero(named(titles, n)) if self.titles is not None else np.zeros(0, dtype=int)
        if not len(rows):
            return rows, np.zeros((0, len(self.categories))), np.zeros((0, len(self.tags)))
        known, name_c, name_t = self.titles.logits([titles[i] for i in rows])
        return rows[known], name_c[known], name_t[known]

    def experts(self, examples: Examples) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For the examples whose names are read: (their rows, the photo's category and tag probabilities before
        temperatures, the name's category and tag logits): what the pool's weights are fitted on."""
        rows, name_c, name_t = self._names(examples.titles, len(examples.ids))
        photo_c, photo_t = self._photo(np.asarray(examples.features, dtype=np.float32)[rows])
        return rows, photo_c, photo_t, name_c, name_t

    def predict(self, features: np.ndarray, titles: list[str | None] | None = None) -> list[Prediction]:
        category, tags, read = self._scored(features, titles)
        out = []
        for c_row, t_row, named_row in zip(category, tags, read):
            order = np.argsort(-c_row)
            out.append(Prediction([(self.categories[i], float(c_row[i])) for i in order],
                                  [(self.tags[i], float(t_row[i])) for i in np.argsort(-t_row)], bool(named_row)))
        return out

    def _votes(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The K nearest products' share of the similarity behind each term (each row sums to 1 over categories)."""
        k = min(self.settings["k"], len(self.memory))
        similarity = features @ self.memory.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k] if k < len(self.memory) else \
            np.broadcast_to(np.arange(len(self.memory)), (len(features), len(self.memory)))
        weight = np.clip(np.take_along_axis(similarity, nearest, axis=1), 1e-6, None)  # [B, k]
        weight = weight / weight.sum(axis=1, keepdims=True)
        categories = np.zeros((len(features), len(self.categories)), dtype=np.float32)
        labelled = self.memory_category[nearest]  # [B, k]
        rows = np.repeat(np.arange(len(features)), k).reshape(len(features), k)
        mask = labelled >= 0
        np.add.at(categories, (rows[mask], labelled[mask]), weight[mask])
        tags = np.einsum("bk,bkt->bt", weight, self.memory_tags[nearest].astype(np.float32))
        return categories, tags

    def _heads(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = features * FEATURE_SCALE
        category = (softmax(x @ self.category_coef + self.category_bias) if self.category_coef.size
                    else np.ones((len(x), len(self.categories)), dtype=np.float32))
        tags = sigmoid(x @ self.tag_coef + self.tag_bias) if self.tag_coef.size else \
            np.zeros((len(x), len(self.tags)), dtype=np.float32)
        return category, tags

    # -- storing -----------------------------------------------------------------------------------------------
    ARRAYS = ("memory", "memory_category", "memory_tags", "category_coef", "category_bias", "tag_coef", "tag_bias")

    VALUES = ("categories", "tags", "category_temperature", "tag_temperature", "settings", "title_weights")
    TITLE_PREFIX = "title_"

    def to_arrays(self) -> dict:
        """The model as plain values (VALUES) and numpy arrays (the data layer stores arrays as bytes)."""
        names = {"title_weights": None} if self.titles is None else {
            "title_weights": [list(pair) for pair in self.titles.weights], **self.titles.to_arrays(self.TITLE_PREFIX)}
        return {"categories": list(self.categories), "tags": list(self.tags),
                "category_temperature": self.category_temperature, "tag_temperature": self.tag_temperature,
                "settings": dict(self.settings), **{name: getattr(self, name) for name in self.ARRAYS}, **names}

    @classmethod
    def from_arrays(cls, values: dict) -> "ShopModel":
        titles = TitleHead.from_arrays(values, cls.TITLE_PREFIX, values.get("title_weights"))
        return cls(**{name: values[name] for name in ("categories", "tags", *cls.ARRAYS, "category_temperature",
                                                      "tag_temperature", "settings")}, titles=titles)


@functools.cache
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _calibrated_softmax(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(log_probabilities(probabilities) / temperature)


def _calibrated_sigmoid(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    return sigmoid(log_odds(probabilities) / temperature)


class NotEnoughExamples(ValueError):
    """The shop has no term with MIN_EXAMPLES products: it keeps the generic taxonomy."""


def fit(examples: Examples, categories: list[str], tags: list[str], settings: dict | None = None,
        start: ShopModel | None = None) -> ShopModel:
    """A model of these terms learned on `examples`, uncalibrated (temperatures 1), with heads over the products'
    names where enough of them have one. `start`: a model of the same terms whose photo heads the optimiser starts
    from (a training's second fit, on every product, starts from the first's, on 80 % of them: about half the
    iterations)."""
    settings = {"k": K, "knn_weight": KNN_WEIGHT, "c": C, **(settings or {})}
    x = np.ascontiguousarray(examples.features, dtype=np.float32)
    category_index = {c: i for i, c in enumerate(categories)}
    memory_category = np.array([category_index.get(c, -1) if c is not None else -1 for c in examples.categories])
    tag_index = {t: i for i, t in enumerate(tags)}
    memory_tags = np.zeros((len(x), len(tags)), dtype=bool)
    for row, product_tags in enumerate(examples.tags):
        for tag in product_tags:
            if tag in tag_index:
                memory_tags[row, tag_index[tag]] = True
    same_categories = start is not None and start.categories == list(categories)
    category = category_head(x, memory_category, len(categories), settings["c"], FEATURE_SCALE,
                             (start.category_coef, start.category_bias) if same_categories else None)
    same_tags = start is not None and start.tags == list(tags)
    tag = tag_heads(x, memory_tags, settings["c"], FEATURE_SCALE,
                    (start.tag_coef, start.tag_bias) if same_tags else None)
    names = title_head(examples.titles, memory_category, memory_tags, len(categories)) if examples.titles else None
    return ShopModel(list(categories), list(tags), x, memory_category, memory_tags, *category, *tag,
                     settings=settings, titles=names)


def train(examples: Examples, settings: dict | None = None, *, min_examples: int = MIN_EXAMPLES
          ) -> tuple[ShopModel, dict]:
    """The shop's model on every example, calibrated on its held-out products, and the report of that training:
    `held_out` (top-1, tag micro-F1, calibration, per-term precision and recall, from the photos alone),
    `held_out_named` (the same of the held-out products whose name holds a word the model learned, read with it,
    the pool's weights cross-fitted: `named_figures`; None when the model learned no names), `terms` (examples per
    term), `train_seconds`. NotEnoughExamples when no term has `min_examples` products."""
    # One BLAS thread: a shop's heads are many small problems (a logistic regression a tag, a few hundred
    # dimensions), and OpenBLAS's two threads cost more than they save on them: one tag's head on 10,000 products
    # took 74 ms on two threads and 17 ms on one (docs/benchmarks.md, "Many tags").
    with _blas().limit(limits=1, user_api="blas"):
        return _train(examples, settings, min_examples=min_examples)


def _train(examples: Examples, settings: dict | None, *, min_examples: int) -> tuple[ShopModel, dict]:
    start = time.perf_counter()
    category_counts, tag_counts = term_counts(examples)
    categories = sorted(c for c, n in category_counts.items() if n >= min_examples)
    tags = sorted(t for t, n in tag_counts.items() if n >= min_examples)
    if not categories and not tags:
        raise NotEnoughExamples(f"no category or tag has {min_examples} products yet "
                                f"(the most: {max([*category_counts.values(), *tag_counts.values(), 0])})")
    held = np.array([is_held_out(i) for i in examples.ids], dtype=bool)
    report: dict = {"held_out": None, "held_out_named": None}
    temperatures, name_weights = (1.0, 1.0), None
    if held.any() and (~held).sum() >= 2:
        learned = fit(examples.subset(np.flatnonzero(~held)), categories, tags, settings)
        scored = examples.subset(np.flatnonzero(held))
        temperatures = calibrate(learned, scored)
        learned.category_temperature, learned.tag_temperature = temperatures
        report["held_out"] = score(learned, scored)
        with_names = named_figures(learned, scored) if learned.titles is not None else None
        if with_names is not None:
            name_weights, report["held_out_named"] = with_names
    model = fit(examples, categories, tags, settings, start=learned if report["held_out"] else None)
    model.category_temperature, model.tag_temperature = temperatures
    if name_weights is None:  # names that no held-out product scored are not read (too few of them)
        model.titles = None
    elif model.titles is not None:
        model.titles.weights = name_weights
    report["terms"] = {"categories": category_counts, "tags": tag_counts, "min_examples": min_examples}
    report["products"] = len(examples.ids)
    report["train_seconds"] = round(time.perf_counter() - start, 3)
    return model, report
