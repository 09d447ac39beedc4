"""Temperature scaling, calibration error, risk-coverage and policy thresholds on seeded data with known answers."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from scipy.stats import binomtest

from kalas.calibration import (CROSS_FIT_FOLDS, Rule, SHIPPED_RULE, calibration_fold, claim_confidence, ece_noise,
                               expected_calibration_error, fit_temperature, fit_top_scaling, fit_weights,
                               precision_lower_bound,
                               reliability, risk_coverage, softmax, threshold_for, top_scaled)


def _sampled(temperature: float, n: int = 4000, classes: int = 6, seed: int = 0):
    """Logits, and labels drawn from softmax(logits / temperature): a model that is right to exactly that degree."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, classes))
    probabilities = softmax(logits, temperature)
    labels = [int(rng.choice(classes, p=row)) for row in probabilities]
    return logits, [[label] for label in labels]


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with(true_temperature):
    logits, targets = _sampled(true_temperature)
    assert fit_temperature(logits, targets) == pytest.approx(true_temperature, rel=0.1)


def test_calibrated_scores_have_a_small_error_and_overconfident_ones_a_large_one():
    logits, targets = _sampled(2.0)
    truth = np.array([t[0] for t in targets])
    for temperature, low, high in ((1.0, 0.08, 1.0), (2.0, 0.0, 0.03)):
        probabilities = softmax(logits, temperature)
        confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == truth
        assert low <= expected_calibration_error(confidence, right) <= high
    bins = reliability([0.05, 0.95, 0.97], [False, True, False], bins=10)
    assert [b["count"] for b in bins] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[9]["accuracy"] == 0.5 and bins[9]["confidence"] == pytest.approx(0.96)


def test_a_coarse_target_accepts_every_class_under_it():
    logits = np.array([[2.0, 2.0, -5.0]] * 50)
    # the truth is "either of the first two": the sum of their probabilities, so sharper is better
    assert fit_temperature(logits, [[0, 1]] * 50) < 0.1


def test_the_top_scaling_keeps_the_distribution_and_its_order():
    probabilities = softmax(np.random.default_rng(1).normal(0, 2, (200, 6)))
    scaled = top_scaled(probabilities, 0.6, 0.4)
    assert np.allclose(scaled.sum(axis=1), 1.0)
    assert (np.argsort(-scaled, axis=1) == np.argsort(-probabilities, axis=1)).all()
    assert np.allclose(top_scaled(probabilities, 1.0, 0.0), probabilities)  # the identity
    top = probabilities.max(axis=1)
    assert np.allclose(scaled.max(axis=1), 1 / (1 + np.exp(-(0.6 * np.log(top / (1 - top)) + 0.4))))


def test_the_fitted_top_scaling_is_the_one_the_answers_were_drawn_with():
    """Rightness drawn from sigmoid(slope · logit(p) + bias) of the top probability: the fit finds them."""
    rng = np.random.default_rng(2)
    probabilities = softmax(rng.normal(0, 3, (6000, 5)))
    truth = top_scaled(probabilities, 0.5, 0.8).max(axis=1)
    right = rng.random(len(truth)) < truth
    claims = [[int(best)] for best in probabilities.argmax(axis=1)]
    slope, bias = fit_top_scaling(probabilities, claims, right)
    assert slope == pytest.approx(0.5, abs=0.1) and bias == pytest.approx(0.8, abs=0.2)
    assert fit_top_scaling(probabilities[:0], [], []) == (1.0, 0.0)


def test_a_coarse_claim_is_scored_with_its_whole_group():
    probabilities = np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1]])
    assert claim_confidence(probabilities, [[0], [0, 1]]).tolist() == pytest.approx([0.5, 0.9])


def test_the_noise_floor_is_what_a_calibrated_model_measures_by_chance():
    confidence = np.random.default_rng(3).uniform(0.5, 1.0, 300)
    floor = ece_noise(confidence)
    assert 0.02 < floor < 0.08  # 300 answers over 15 bins cannot tell a few points of error from none
    assert ece_noise(np.tile(confidence, 30)) < floor / 3  # thirty times the answers: about a fifth
    assert ece_noise([]) == 0.0


def test_risk_coverage_keeps_the_most_confident_first():
    confidence = [0.9, 0.8, 0.7, 0.6]
    right = [True, True, False, False]
    curve = risk_coverage(confidence, right, points=4)
    assert [(p["coverage"], p["accuracy"]) for p in curve] == [(0.25, 1.0), (0.5, 1.0), (0.75, 0.6667), (1.0, 0.5)]
    assert [p["threshold"] for p in curve] == [0.9, 0.8, 0.7, 0.6]


def test_the_policy_threshold_is_the_lowest_score_that_keeps_the_precision():
    confidence = [0.99, 0.95, 0.9, 0.85, 0.8, 0.5]
    right = [True, True, True, False, True, False]
    assert threshold_for(confidence, right, 1.0) == 0.9
    assert threshold_for(confidence, right, 0.8) == 0.8  # 4 of 5 kept are right
    assert threshold_for([0.9, 0.8], [False, True], 0.99) > 1  # no threshold reaches it: nothing is applied
    # answers tied at the threshold are kept together
    assert threshold_for([0.9, 0.9, 0.8], [True, False, True], 1.0) > 1


@pytest.mark.parametrize("method, scipy_method", [("clopper-pearson", "exact"), ("wilson", "wilson")])
def test_the_lower_bound_on_precision_is_the_one_sided_binomial_bound(method, scipy_method):
    for right, kept in ((97, 100), (290, 300), (5, 5), (1, 40)):
        # one-sided at 95%: the low end of scipy's two-sided 90% interval
        expected = binomtest(right, kept).proportion_ci(confidence_level=0.90, method=scipy_method).low
        assert precision_lower_bound(right, kept, 0.95, method) == pytest.approx(expected, abs=1e-9)
    assert precision_lower_bound(0, 10, 0.95, method) == pytest.approx(0.0)
    assert precision_lower_bound(9, 10, None, method) == 0.9  # no level: the observed share
    with pytest.raises(ValueError, match="unknown bound"):
        precision_lower_bound(9, 10, 0.95, "normal")


def test_a_threshold_with_a_confidence_keeps_only_what_vouches_for_the_precision():
    confidence = np.round(np.linspace(0.999, 0.5, 300), 6)
    right = np.ones(300, dtype=bool)
    right[[210, 230, 250, 260, 270, 280, 285, 290, 295, 299]] = False
    observed = threshold_for(confidence, right, 0.97)
    kept = confidence >= observed
    assert (kept.sum(), right[kept].sum()) == (295, 287)  # 97.3% right here, but only 95.2% vouched for at 95%
    vouched = threshold_for(confidence, right, 0.97, level=0.95)
    kept = confidence >= vouched
    assert vouched > observed and (kept.sum(), right[kept].sum()) == (260, 257)
    assert binomtest(257, 260).proportion_ci(confidence_level=0.90).low >= 0.97
    below = confidence >= confidence[confidence < vouched].max()  # one answer more: no longer vouched for
    assert binomtest(int(right[below].sum()), int(below.sum())).proportion_ci(confidence_level=0.90).low < 0.97
    assert threshold_for([0.9] * 20, [True] * 20, 0.97, level=0.95) > 1  # 20 of 20 right cannot vouch for 97%
    # The rules a policy is fitted by: the shipped one vouches at 95%; as observed, with or without a margin.
    assert SHIPPED_RULE.threshold(confidence, right, 0.97) == vouched
    assert Rule(level=None).threshold(confidence, right, 0.97) == observed
    assert Rule(level=None, margin=0.01).threshold(confidence, right, 0.97) == threshold_for(confidence, right, 0.98)
    assert SHIPPED_RULE.holds(right[:260], 0.97) and not SHIPPED_RULE.holds(right[:261], 0.97)


def test_the_calibration_parts_are_stable_and_even_and_two_are_the_halves_of_before():
    ids = [f"photo-{i}" for i in range(2000)]
    for folds in (2, 5):
        parts = [calibration_fold(i, folds) for i in ids]
        assert parts == [calibration_fold(i, folds) for i in ids]
        assert all(2000 / folds * 0.9 < parts.count(p) < 2000 / folds * 1.1 for p in range(folds))
    # Two parts are the halves the figures before 2026-12-07 were cross-fitted over (the first byte of the hash).
    halves = [hashlib.sha256(f"{i}|calibration".encode()).digest()[0] < 128 for i in ids]
    assert [calibration_fold(i, 2) == 0 for i in ids] == halves and calibration_fold(ids[0]) in range(CROSS_FIT_FOLDS)


def test_pooled_experts_are_weighed_by_what_they_tell():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 5, 2000)
    told = rng.normal(0, 1, (2000, 5))
    told[np.arange(2000), truth] += 3.0  # an expert that knows
    noise = rng.normal(0, 3, (2000, 5))  # one that does not
    targets = [[t] for t in truth]
    knows, guesses = fit_weights([told, noise], targets)
    assert knows > 0.5 and guesses < 0.05
    # One expert alone: its weight is one over its temperature.
    [alone] = fit_weights([told / 2.0], targets)
    assert alone == pytest.approx(1 / fit_temperature(told / 2.0, targets), rel=0.02)
    assert fit_weights([told], targets, upper=1.0)[0] <= 1.0 and fit_weights([told, noise], []) == (1.0, 1.0)
