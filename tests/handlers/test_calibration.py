"""The handler's calibration (handlers/calibration.py) against the numpy arithmetic the fit scored
(kalas/calibration.py, kalas/top_curve.py): the same probabilities from the same logits, in torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handlers.calibration import Calibration
from kalas.calibration import softmax, top_scaled
from kalas.top_curve import fit_top_curve, top_curved


def _logits(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2.5, (400, 7)).astype(np.float32)


def test_the_top_curve_is_applied_as_the_fit_scored_it():
    logits = _logits()
    probabilities = softmax(logits.astype(np.float64), 0.8)
    rng = np.random.default_rng(1)
    right = rng.random(len(logits)) < np.where(probabilities.max(axis=1) < 0.6, 0.5, probabilities.max(axis=1))
    x, y = fit_top_curve(probabilities, [[int(b)] for b in probabilities.argmax(axis=1)], right)
    calibration = Calibration.of({"temperatures": {"category": 0.8}, "top_curve": {"category": {"x": x, "y": y}}})
    served = calibration.probabilities("category", torch.from_numpy(logits)).numpy()
    # float32 softmax against float64, read on a curve whose steepest segments rise ~100 per unit: 1e-5
    assert served == pytest.approx(top_curved(probabilities, x, y), abs=1e-5)
    assert (served.argmax(axis=1) == logits.argmax(axis=1)).all() and served.sum(axis=1) == pytest.approx(1.0)
    # one photo alone is answered as in a batch
    assert calibration.probabilities("category", torch.from_numpy(logits[0])).numpy() == pytest.approx(served[0], abs=1e-6)


def test_a_top_scaling_is_still_applied_where_the_fit_has_no_curve():
    logits = _logits(2)
    calibration = Calibration.of({"temperatures": {"category": 1.2}, "top": {"category": [0.7, 0.1]}})
    served = calibration.probabilities("category", torch.from_numpy(logits)).numpy()
    assert served == pytest.approx(top_scaled(softmax(logits.astype(np.float64), 1.2), 0.7, 0.1), abs=1e-6)
    assert Calibration.of({}).probabilities("category", torch.from_numpy(logits)).numpy() == pytest.approx(
        softmax(logits.astype(np.float64)), abs=1e-6)


def test_a_curve_that_falls_is_refused():
    with pytest.raises(ValueError, match="not a rising curve"):
        Calibration.of({"top_curve": {"category": {"x": [0.0, 0.5, 1.0], "y": [0.2, 0.1, 0.9]}}})


def test_a_photo_the_model_is_all_but_certain_of_still_sums_to_1_under_a_curve_that_keeps_it_below_1():
    """Raw top 1 - 1e-9 (1.0 in float32), the curve's top 0.97: the others share 0.03 in their own order."""
    logits = np.array([[30.0, 9.0, 8.0, 1.0], [2.0, 1.0, 0.5, 0.0]], dtype=np.float32)
    x, y = [0.0, 0.5, 1.0], [0.0, 0.5, 0.97]
    calibration = Calibration.of({"temperatures": {"category": 1.0}, "top_curve": {"category": {"x": x, "y": y}}})
    served = calibration.probabilities("category", torch.from_numpy(logits)).numpy()
    fitted = top_curved(softmax(logits.astype(np.float64)), x, y)
    for scores in (served, fitted):
        assert scores.sum(axis=1) == pytest.approx(1.0, abs=1e-6)
        assert scores[0, 0] == pytest.approx(0.97, abs=1e-6) and scores[0, 1] > scores[0, 2] > scores[0, 3] > 0
        assert (np.argsort(-scores, axis=1) == np.argsort(-logits, axis=1)).all()
    assert served == pytest.approx(fitted, abs=1e-5)
