"""What a tagging policy's category thresholds apply, and how right that is: the candidates of each photo (its top
leaf, and the groups above it, nearest first), the lowest thresholds that keep a target precision by a `Rule`
(kalas/calibration.py), and the figures a policy buys. scripts/calibrate.py picks the shipped thresholds with them;
scripts/compare_confidence.py scores other confidences by them. The rule a policy applies is the API's own
(handlers/category_groups.py `backed_off`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.category_groups import backed_off
from kalas.calibration import NEVER, SHIPPED_RULE, Rule


def top_choice(probabilities: np.ndarray, targets: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per photo: the top category, its score, and whether it is among the photo's accepted categories."""
    best = probabilities.argmax(axis=1)
    return best, probabilities.max(axis=1), np.array([b in t for b, t in zip(best, targets)])


@dataclass(frozen=True)
class Candidates:
    """Per photo: the top category's score and rightness, and its groups' scores and rightness, nearest first (a
    group is right when the truth's categories lie within it, or it within the truth's)."""

    leaf: np.ndarray
    right: np.ndarray
    groups: list[list[tuple[float, bool]]]

    def outcomes(self, policy: dict) -> tuple[np.ndarray, np.ndarray]:
        """(applied, right) per photo under `policy`'s thresholds, by the rule the API applies (`backed_off`)."""
        applied, right = np.zeros(len(self.leaf), dtype=bool), np.zeros(len(self.leaf), dtype=bool)
        for i, (score, groups) in enumerate(zip(self.leaf, self.groups)):
            chosen = backed_off(score, [g for g, _ in groups], policy)
            if chosen is not None:
                applied[i], right[i] = True, self.right[i] if chosen < 0 else groups[chosen][1]
        return applied, right


def category_candidates(probabilities: np.ndarray, targets: list[list[int]], groups: list) -> Candidates:
    best, confidence, right = top_choice(probabilities, targets)
    above = [[(float(probabilities[i, g.members].sum()), set(accepted) <= g.members_set or g.members_set <= set(accepted))
              for g in groups if leaf in g.members_set] for i, (leaf, accepted) in enumerate(zip(best, targets))]
    return Candidates(confidence, right, above)


def category_policy(probabilities: np.ndarray, targets: list[list[int]], groups: list, precision: float,
                    rule: Rule = SHIPPED_RULE) -> dict:
    """The leaf and group thresholds for `precision` (`policy_for`) over these photos' scores."""
    return policy_for(category_candidates(probabilities, targets, groups), precision, rule)


def policy_for(candidates: Candidates, precision: float, rule: Rule = SHIPPED_RULE) -> dict:
    """The lowest leaf threshold whose leaves reach `precision` by `rule`; then, a level at a time from the nearest
    (the taxonomy's groups, then its departments), the lowest threshold of the level at which what the policy
    applies in all (leaves, and for the rest the nearest group that reaches its level's threshold) still does."""
    leaf = rule.threshold(candidates.leaf, candidates.right, precision)
    policy = {"leaf": leaf, "group": NEVER, "department": NEVER}
    unsure = np.flatnonzero(candidates.leaf < leaf)
    for level in ("group", "department"):
        scores = sorted({round(score, 6) for i in unsure for score, _ in _level(candidates.groups[i], level)})
        for threshold in reversed(scores):  # from the surest down: the lowest that still keeps the precision wins
            applied, right = candidates.outcomes({**policy, level: threshold})
            if applied.any() and rule.holds(right[applied], precision):
                policy[level] = threshold
    return policy


def _level(groups: list[tuple[float, bool]], level: str) -> list[tuple[float, bool]]:
    """A photo's groups (nearest first) of one level: its department is the last."""
    return groups[-1:] if level == "department" else groups[:-1]


def category_outcomes(probabilities: np.ndarray, targets: list[list[int]], groups: list,
                      policy: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per photo: whether the policy applies something, whether that is right, whether it is a leaf."""
    candidates = category_candidates(probabilities, targets, groups)
    applied, right = candidates.outcomes(policy)
    return applied, right, candidates.leaf >= policy["leaf"]


def summary(applied: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> dict:
    """Precision of what is applied, coverage (a leaf or a group) and leaf coverage."""
    return {"precision": round(float(right[applied].mean()), 4) if applied.any() else None,
            "coverage": round(float(applied.mean()), 4) if len(applied) else None,
            "leaf_coverage": round(float(leaf.mean()), 4) if len(leaf) else None, "photos": len(applied)}
