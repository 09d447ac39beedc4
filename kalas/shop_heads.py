"""The logistic heads of a shop's model (kalas/shop_model.py), over any feature rows: a photo's joint vector, or
a product name's word vector (`TitleHead`).

- `category_head(x, labels, n, c)`: one multinomial head over the shop's n categories ([D, n] weights, [n] biases;
  a category absent from `labels` gets a bias that keeps it out of every answer);
- `tag_heads(x, targets, c)`: one sigmoid per tag;
- `TitleHead`: the shop's product names as a second input. A store product has a name ("Puma Men Black Sports
  Shoes"), and the name often says what its photo cannot: measured on the simulated German shop, the photo alone
  tells men's from unisex articles of one kind worst, and the name beside it took held-out top-1 from 0.939 to
  0.98 (docs/benchmarks.md, "A product's name beside its photo"). Each shop learns its own words (its language,
  its brands, its spelling): TF-IDF of its names' words and word pairs, a word kept when two products use it,
  then the same heads as the photo's. scikit-learn's vectoriser is rebuilt from the stored vocabulary and weights,
  so the words are read at answer time exactly as at training time (the API process imports its text module when
  a model with names first answers: 11 MB and 0.09 s, measured once on this machine).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from kalas.calibration import fit_weights

MAX_ITER = 300
TOL = 1e-3  # ten times sklearn's default: about half the time, top-1 within 0.3 point on the simulated shops
NGRAMS = (1, 2)  # words and word pairs ("flip flops", "sports shoes")
MIN_DF = 2  # a word is learned when at least two of the shop's names use it
MAX_WORDS = 20_000
TITLE_C = 10.0
MIN_NAMED = 20  # products with a name (and a term) before the names are learned


def _logistic(c: float, start: tuple[np.ndarray, np.ndarray] | None):
    # Imported here: a process that only answers with stored models (the API) never loads it for the photo heads.
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=c, max_iter=MAX_ITER, tol=TOL)
    if start is not None:
        head.set_params(warm_start=True)
        head.coef_, head.intercept_ = start
    return head


def category_head(x, labels: np.ndarray, n: int, c: float, scale: float = 1.0,
                  start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """([D, n] weights, [n] biases) of a softmax over n categories learned from rows `x` (dense or sparse) whose
    `labels` are category indices (-1: none). Empty weights when fewer than two categories have rows. `start`:
    weights and biases of the same n categories to start the optimiser from (each row of x is multiplied by
    `scale` first)."""
    d = x.shape[1]
    labelled = labels >= 0
    classes = np.unique(labels[labelled])
    if len(classes) < 2:
        return np.zeros((d, 0), np.float32), np.zeros(0, np.float32)
    warm = None
    if start is not None and len(classes) > 2 and start[0].size:
        warm = start[0][:, classes].T.astype(np.float64), start[1][classes].astype(np.float64)
    head = _logistic(c, warm).fit(x[labelled] * scale, labels[labelled])
    coef = np.zeros((d, n), np.float32)
    bias = np.full(n, -30.0, np.float32)  # a term absent from these rows
    if len(head.classes_) == 2:  # sklearn gives one column for two classes: the second class's log-odds
        weights = np.stack([-head.coef_[0], head.coef_[0]]) / 2
        biases = np.array([-head.intercept_[0], head.intercept_[0]]) / 2
    else:
        weights, biases = head.coef_, head.intercept_
    coef[:, head.classes_] = weights.T
    bias[head.classes_] = biases
    return coef, bias


def tag_heads(x, targets: np.ndarray, c: float, scale: float = 1.0,
              start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """([D, T] weights, [T] biases): one sigmoid per column of the [N, T] bool `targets`. A tag every row has (or
    none has) is answered by its bias alone."""
    d, t = x.shape[1], targets.shape[1]
    coef, bias = np.zeros((d, t), np.float32), np.full(t, -30.0, np.float32)
    x = x * scale  # once, not once a tag
    for column in range(t):
        target = targets[:, column]
        if target.all() or not target.any():
            bias[column] = 30.0 if target.all() else -30.0
            continue
        warm = None
        if start is not None and start[0][:, column].any():
            warm = start[0][:, column][None, :].astype(np.float64), np.array([start[1][column]], dtype=np.float64)
        head = _logistic(c, warm).fit(x, target)
        coef[:, column], bias[column] = head.coef_[0], head.intercept_[0]
    return coef, bias


def fit_pool_weights(photo_c: np.ndarray, photo_t: np.ndarray, name_c: np.ndarray, name_t: np.ndarray,
                     truth_c: np.ndarray, truth_t: np.ndarray, sharpen: bool = True) -> tuple:
    """`TitleHead.weights` minimising the negative log-likelihood of the truths (`truth_c`: category indices, -1
    none; `truth_t`: [N, T] bool), the category's and the tags' apart (kalas/calibration.py `fit_weights`);
    `sharpen` False keeps each weight at most 1 (few products: soften, never sharpen)."""
    upper = 20.0 if sharpen else 1.0
    category, tags = (1.0, 1.0), (1.0, 1.0)
    rows = truth_c >= 0
    if rows.any() and photo_c.shape[1] > 1:
        category = fit_weights([log_probabilities(photo_c[rows]), log_probabilities(softmax(name_c[rows]))],
                               [[c] for c in truth_c[rows]], upper)
    if truth_t.size:  # each (product, tag) a two-way choice: softmax([0, z]) is sigmoid(z)
        zeros = np.zeros(truth_t.size)
        tags = fit_weights([np.stack([zeros, log_odds(photo_t).ravel()], axis=1),
                            np.stack([zeros, np.clip(name_t, -30, 30).ravel()], axis=1)],
                           [[int(t)] for t in truth_t.ravel()], upper)
    return category, tags


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise; a shop with tags and no categories has no column."""
    if logits.shape[1] == 0:
        return logits
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probabilities, 1e-6, 1.0))


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def named(titles: list[str | None] | None, n: int) -> np.ndarray:
    """[n] bool: which rows have a name with something to read."""
    if titles is None:
        return np.zeros(n, dtype=bool)
    return np.array([bool(t and t.strip()) for t in titles], dtype=bool)


@dataclass
class TitleHead:
    """The heads over a shop's product names: its words (`vocabulary`, with their `idf` weights), then the same
    category and tag heads as the photo's. `weights`: how the photo's and the name's experts are pooled, for the
    categories and for the tags ((photo, name) each: `pooled`), fitted on the training's held-out products that have
    a name (`fit_pool_weights`)."""

    vocabulary: np.ndarray  # [V] str
    idf: np.ndarray  # [V] float32
    category_coef: np.ndarray  # [V, C]
    category_bias: np.ndarray  # [C]
    tag_coef: np.ndarray  # [V, T]
    tag_bias: np.ndarray  # [T]
    weights: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 1.0), (1.0, 1.0))

    ARRAYS = ("vocabulary", "idf", "category_coef", "category_bias", "tag_coef", "tag_bias")

    @functools.cached_property
    def _vectoriser(self):
        return vectoriser({str(word): i for i, word in enumerate(self.vocabulary)}, self.idf)

    def logits(self, titles: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """([B] bool: the name holds a word the shop's names taught, [B, C] category logits, [B, T] tag logits) of
        B names. A name of none of those words says nothing: its rows are the heads' biases alone."""
        x = self._vectoriser.transform(titles)
        category = np.asarray(x @ self.category_coef) + self.category_bias if self.category_coef.size else \
            np.zeros((len(titles), len(self.category_bias)), np.float32)
        return x.getnnz(axis=1) > 0, category, np.asarray(x @ self.tag_coef) + self.tag_bias

    def pooled(self, photo_c: np.ndarray, photo_t: np.ndarray, name_c: np.ndarray, name_t: np.ndarray,
               weights: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The photo's expert (its category and tag probabilities) and the name's (its heads' logits) pooled
        log-linearly: softmax(a · log p_photo + b · log p_name) over the categories, sigmoid(a · logit + b · logit)
        per tag, (a, b) the `weights` (the model's own by default)."""
        (photo_w, name_w), (photo_wt, name_wt) = weights or self.weights
        category = softmax(photo_w * log_probabilities(photo_c) + name_w * log_probabilities(softmax(name_c)))
        return category, sigmoid(photo_wt * log_odds(photo_t) + name_wt * np.clip(name_t, -30, 30))

    def to_arrays(self, prefix: str) -> dict:
        return {prefix + name: getattr(self, name) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, values: dict, prefix: str, weights) -> "TitleHead | None":
        if prefix + "vocabulary" not in values:
            return None
        head = cls(**{name: values[prefix + name] for name in cls.ARRAYS},
                   weights=tuple(tuple(pair) for pair in weights) if weights else cls.weights)
        head.logits([""])  # its vectoriser built where the model is loaded (the API: in a thread), not at an answer
        return head


def vectoriser(vocabulary: dict[str, int] | None = None, idf: np.ndarray | None = None):
    """The shop's word vectoriser: fitted on its names when `vocabulary` is None, else the stored one."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if vocabulary is None:
        return TfidfVectorizer(ngram_range=NGRAMS, min_df=MIN_DF, max_features=MAX_WORDS, sublinear_tf=True,
                               dtype=np.float32)
    words = TfidfVectorizer(ngram_range=NGRAMS, vocabulary=vocabulary, sublinear_tf=True, dtype=np.float32)
    words.idf_ = np.asarray(idf, dtype=np.float32)
    return words


def title_head(titles: list[str | None], labels: np.ndarray, targets: np.ndarray, n_categories: int
               ) -> TitleHead | None:
    """The heads over the names of the rows that have one (`labels`: category indices, -1 none; `targets`: [N, T]
    tags); None when fewer than MIN_NAMED rows have a name or no word is used twice."""
    rows = np.flatnonzero(named(titles, len(labels)))
    if len(rows) < MIN_NAMED:
        return None
    words = vectoriser()
    try:
        x = words.fit_transform([titles[i] for i in rows])
    except ValueError:  # no word used by two names
        return None
    category = category_head(x, labels[rows], n_categories, TITLE_C)
    tags = tag_heads(x, targets[rows], TITLE_C)
    vocabulary = np.array(sorted(words.vocabulary_, key=words.vocabulary_.__getitem__))
    return TitleHead(vocabulary, words.idf_.astype(np.float32), *category, *tags)
