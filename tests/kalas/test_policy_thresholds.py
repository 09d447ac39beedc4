"""The policy's thresholds a level at a time: leaves, then the taxonomy's groups, then its departments."""
import numpy as np

from kalas.calibration import NEVER
from kalas.policy_thresholds import Candidates, policy_for, summary


def test_a_department_is_applied_where_its_nearest_group_is_surely_wrong():
    """Half the photos' nearest group is wrong at a high score (their department right: a T-shirt called a polo),
    the other half's group is unsure and its department right at a lower score. One threshold for both levels
    (before 2026-12-07) could only apply the departments scored above the wrong groups; a threshold per level
    applies every department and no group."""
    photos = 400
    leaf = np.full(photos, 0.5)
    right = np.arange(photos) % 2 == 0  # leaves right half the time: never applied at 97 %
    groups = [[(0.98, False), (0.99, True)] if i % 2 else [(0.6, True), (0.85, True)] for i in range(photos)]
    candidates = Candidates(leaf, right, groups)

    policy = policy_for(candidates, 0.97)
    assert policy == {"leaf": NEVER, "group": NEVER, "department": 0.85}
    applied, correct = candidates.outcomes(policy)
    assert summary(applied, correct, leaf >= policy["leaf"]) == {
        "precision": 1.0, "coverage": 1.0, "leaf_coverage": 0.0, "photos": photos}

    one_threshold = {"leaf": NEVER, "group": 0.985}  # the best a single threshold does here
    applied, correct = candidates.outcomes(one_threshold)
    assert (applied.mean(), correct[applied].mean()) == (0.5, 1.0)
    applied, correct = candidates.outcomes({"leaf": NEVER, "group": 0.85})  # lower: the wrong groups come in first
    assert applied.all() and correct.mean() == 0.5


def test_a_group_sure_enough_is_preferred_to_its_department():
    """Where the nearest groups keep the target, they are applied at their own threshold; the departments take
    only the photos whose group is unsure."""
    photos = 400
    leaf, right = np.full(photos, 0.5), np.zeros(photos, dtype=bool)
    groups = [[(0.9, True), (0.95, True)] if i % 4 else [(0.4, False), (0.8, True)] for i in range(photos)]
    candidates = Candidates(leaf, right, groups)
    policy = policy_for(candidates, 0.97)
    assert policy == {"leaf": NEVER, "group": 0.9, "department": 0.8}
    applied, correct = candidates.outcomes(policy)
    assert applied.all() and correct.all()
