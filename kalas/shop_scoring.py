"""What a training of a shop's model (kalas/shop_model.py) reports and calibrates on its held-out products: the
photo's temperatures (`calibrate`), the pool of photo and name (`named_figures`), and the figures (`score`):
category top-1 and calibration error, tag micro-F1, precision and recall per term."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kalas.calibration import expected_calibration_error, fit_temperature
from kalas.dataset import is_validation
from kalas.shop_heads import fit_pool_weights, log_odds, log_probabilities

if TYPE_CHECKING:
    from kalas.shop_model import Examples, ShopModel

SHARPEN_FROM = 200  # held-out photos needed before a temperature may sharpen the scores (below 1)
TAG_THRESHOLD = 0.5  # a calibrated tag probability at least this is predicted (micro-F1 in the report)


def _truth(model: ShopModel, examples: Examples) -> tuple[np.ndarray, np.ndarray]:
    index = {c: i for i, c in enumerate(model.categories)}
    category = np.array([index.get(c, -1) if c is not None else -1 for c in examples.categories])
    tags = np.array([[t in set(product_tags) for t in model.tags] for product_tags in examples.tags],
                    dtype=bool).reshape(len(examples.ids), len(model.tags))
    return category, tags


def calibrate(model: ShopModel, examples: Examples) -> tuple[float, float]:
    """The temperatures (category, tags) minimising the negative log-likelihood of `examples` (held out), read from
    their photos alone."""
    saved = model.category_temperature, model.tag_temperature
    model.category_temperature = model.tag_temperature = 1.0
    category_p, tag_p = model.probabilities(examples.features)
    model.category_temperature, model.tag_temperature = saved
    truth_c, truth_t = _truth(model, examples)
    rows = truth_c >= 0
    category_t = 1.0
    if rows.any() and len(model.categories) > 1:
        category_t = fit_temperature(log_probabilities(category_p[rows]), [[c] for c in truth_c[rows]])
    tag_t = 1.0
    if truth_t.size:  # each (product, tag) a two-way choice: softmax([0, z] / T) is sigmoid(z / T)
        z = log_odds(tag_p.ravel())
        tag_t = fit_temperature(np.stack([np.zeros_like(z), z], axis=1), [[int(t)] for t in truth_t.ravel()])
    if len(examples.ids) < SHARPEN_FROM:  # a few right answers would make every score 1.0: soften, never sharpen
        category_t, tag_t = max(category_t, 1.0), max(tag_t, 1.0)
    return category_t, tag_t


def named_figures(model: ShopModel, examples: Examples) -> tuple[tuple, dict] | None:
    """Of the held-out examples whose names the model reads: the pool's weights fitted on all of them (what the
    model keeps), and their `score` with the weights cross-fitted: those examples in two halves by a hash of their
    product's id, each half read with the weights fitted on the other (the weights decide which term comes first,
    so weights fitted on the scored products themselves would flatter them). None when it reads no name."""
    rows, photo_c, photo_t, name_c, name_t = model.experts(examples)
    if not len(rows):
        return None
    examples = examples.subset(rows)
    truth_c, truth_t = _truth(model, examples)
    sharpen = len(rows) >= SHARPEN_FROM  # a few right answers would make every score 1.0: soften, never sharpen

    def weights(on: np.ndarray) -> tuple:
        return fit_pool_weights(photo_c[on], photo_t[on], name_c[on], name_t[on], truth_c[on], truth_t[on], sharpen)

    category, tags = np.zeros_like(photo_c), np.zeros_like(photo_t)
    first = np.array([is_validation(f"{i}|names", 0.5) for i in examples.ids], dtype=bool)
    for half in (first, ~first):
        fitted = weights(~half) if (~half).any() else weights(half)
        category[half], tags[half] = model.titles.pooled(photo_c[half], photo_t[half], name_c[half], name_t[half],
                                                         fitted)
    return weights(np.ones(len(rows), dtype=bool)), score(model, examples, probabilities=(category, tags))


def score(model: ShopModel, examples: Examples, threshold: float = TAG_THRESHOLD,
          probabilities: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Held-out figures: category top-1 and expected calibration error, tag micro-F1, per-term precision/recall, of
    the examples' photos alone, or of `probabilities` given for them."""
    category_p, tag_p = probabilities or model.probabilities(examples.features)
    truth_c, truth_t = _truth(model, examples)
    out: dict = {"products": len(examples.ids)}
    rows = truth_c >= 0
    if rows.any():
        predicted = category_p[rows].argmax(axis=1)
        right = predicted == truth_c[rows]
        out["category_top1"] = round(float(right.mean()), 4)
        out["category_scored"] = int(rows.sum())
        out["category_ece"] = round(expected_calibration_error(category_p[rows].max(axis=1), right), 4)
        out["categories"] = {name: _precision_recall(predicted == i, truth_c[rows] == i)
                             for i, name in enumerate(model.categories)}
    if truth_t.size:
        predicted_t = tag_p >= threshold
        tp = float((predicted_t & truth_t).sum())
        fp, fn = float((predicted_t & ~truth_t).sum()), float((~predicted_t & truth_t).sum())
        out["tag_micro_f1"] = round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else None
        out["tags"] = {name: _precision_recall(predicted_t[:, i], truth_t[:, i]) for i, name in enumerate(model.tags)}
    return out


def _precision_recall(predicted: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((predicted & truth).sum())
    return {"precision": round(tp / int(predicted.sum()), 4) if predicted.any() else None,
            "recall": round(tp / int(truth.sum()), 4) if truth.any() else None, "support": int(truth.sum())}
