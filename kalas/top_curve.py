"""A rising curve for the top probability, fitted on the claims the labels can check: the category's second
calibration step where a Platt scaling (kalas/calibration.py `fit_top_scaling`) has the wrong shape.

- `fit_top_curve(probabilities, claims, correct, bins=None)`: knots (x, y) of the curve. The top probability p
  becomes q; the other classes are scaled by (1 - q) / (1 - p), so a claim of the top class and the rest of its
  group (a coarse label such as "Shoes" checks the group) scores c = b + a · q with a, b known per photo, and the
  curve maximises the likelihood of the claims' rightness under that constraint. `bins` None: isotonic
  regression (pool adjacent violators from one block per score, each block's q its own maximum-likelihood
  value, knots at each block's lowest and highest p as sklearn's `IsotonicRegression` interpolates); `bins`:
  histogram binning, that many bins of equal count, pooled where their values would fall, knots at each bin's
  mean p. The top block is scored no surer than its few photos show (`_not_sure_from_few`). Flat beyond the outer knots (to p = 0 and 1), then mixed with the identity at weight TIE_BREAK (0.001)
  so that it rises strictly: ties would merge photos the model tells apart, and move a policy's leaf threshold.
- `top_curved(probabilities, x, y)`: the curve applied, linear between knots; the top class kept on top (q just
  above the lowest value at which the second class's rescaled score would reach it), every row summing to 1.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from kalas.calibration import claim_confidence

EDGE = 1e-6  # a fitted top probability stays inside (EDGE, 1 - EDGE): never a sure 0 or 1
TIE_BREAK = 1e-3


def _top(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.arange(len(probabilities))
    best = probabilities.argmax(axis=1)
    return rows, best, np.clip(probabilities[rows, best], 1e-7, 1 - 1e-7)


def top_curved(probabilities: np.ndarray, x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """The top probability q on the curve; the others share 1 - q in their own proportions (their sum, not 1 - p,
    which rounding takes from them where p is near 1)."""
    if probabilities.shape[1] < 2:
        return probabilities
    rows, best, top = _top(probabilities)
    rest = probabilities.copy()
    rest[rows, best] = 0.0
    held = rest.sum(axis=1, keepdims=True)
    rest = np.divide(rest, held, out=np.full_like(rest, 1 / (rest.shape[1] - 1)), where=held > 0)
    rest[rows, best] = 0.0
    second = rest.max(axis=1)
    curved = np.maximum(np.interp(top, x, y), second / (1 + second) + 1e-6)  # the top class stays on top
    out = rest * (1 - curved)[:, None]
    out[rows, best] = curved
    return out


def _best_q(a: np.ndarray, b: np.ndarray, right: np.ndarray) -> float:
    """The top probability q maximising the likelihood of claims scored b + a · q."""
    if (a == 1).all() and (b == 0).all():  # claims of the top class alone: their share right
        return float(np.clip(right.mean(), EDGE, 1 - EDGE))

    def loss(q: float) -> float:
        claimed = np.clip(b + a * q, 1e-12, 1 - 1e-12)
        return float(-np.where(right, np.log(claimed), np.log(1 - claimed)).sum())

    return float(minimize_scalar(loss, bounds=(EDGE, 1 - EDGE), method="bounded", options={"xatol": 1e-7}).x)


def _not_sure_from_few(blocks: list[tuple[int, int, float]], correct: np.ndarray) -> tuple[int, int, float]:
    """The top block, its value no higher than the Jeffreys posterior mean of its claims' rightness, (k + ½) / (n + 1),
    and no lower than the block below. Maximum likelihood scores a block whose claims were all right 1 (less EDGE):
    "100 %" from 132 studio photos, or from 12 everyday ones (measured on the shipped fit), more than they can show.
    Only the top block can be all right (any block above an all-right one pools with it), and the order of the
    photos, which is all a policy's thresholds read, stays."""
    first, last, q = blocks[-1]
    right = correct[first:last]
    floor = blocks[-2][2] if len(blocks) > 1 else 0.0
    return first, last, max(floor, min(q, (float(right.sum()) + 0.5) / (len(right) + 1)))


def fit_top_curve(probabilities: np.ndarray, claims: Sequence[Sequence[int]], correct: Sequence[bool],
                  bins: int | None = None) -> tuple[list[float], list[float]]:
    """Knots (x, y) of the non-decreasing curve for the top probability (module docstring); the identity
    without photos."""
    correct = np.asarray(correct, dtype=bool)
    if not len(correct):
        return [0.0, 1.0], [0.0, 1.0]
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _, _, top = _top(probabilities)
    others = claim_confidence(probabilities, claims) - top  # the rest of the claimed group
    a, b = np.clip(1 - others / (1 - top), 0, 1), np.clip(others / (1 - top), 0, 1)
    order = np.argsort(top, kind="stable")
    top, a, b, correct = top[order], a[order], b[order], correct[order]
    if bins is None:  # one block per photo, photos of the same score in one
        starts = np.flatnonzero(np.r_[True, np.diff(top) > 0])
    else:
        starts = np.unique(np.searchsorted(top, np.quantile(top, np.linspace(0, 1, bins + 1)[:-1]), side="left"))
    blocks: list[tuple[int, int, float]] = []  # (first, past the last, q), q rising
    for first, last in zip(starts, [*starts[1:], len(top)]):
        block = (int(first), int(last), _best_q(a[first:last], b[first:last], correct[first:last]))
        while blocks and blocks[-1][2] >= block[2]:  # pool adjacent violators
            first = blocks.pop()[0]
            block = (first, block[1], _best_q(a[first:block[1]], b[first:block[1]], correct[first:block[1]]))
        blocks.append(block)
    blocks[-1] = _not_sure_from_few(blocks, correct)
    if bins is None:
        knots = [(float(top[i]), q) for first, last, q in blocks for i in sorted({first, last - 1})]
    else:
        knots = [(float(top[first:last].mean()), q) for first, last, q in blocks]
    x, y = [0.0], [knots[0][1]]
    for at, q in [*knots, (1.0, knots[-1][1])]:
        if at > x[-1]:  # one value per knot: np.interp and the handler read the same curve
            x.append(at)
            y.append(q)
    # Mixed with the identity at TIE_BREAK, the curve rises strictly: no two top probabilities tie after it, so
    # the photos keep their order (a policy's leaf threshold keeps the same photos as before), at a cost of at
    # most TIE_BREAK to any score.
    return x, [(1 - TIE_BREAK) * q + TIE_BREAK * at for at, q in zip(x, y)]
