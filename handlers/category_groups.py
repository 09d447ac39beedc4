"""The taxonomy's groups over a category head's rows: what the attributes handler scores a group with (the
probability of all its categories together). Apart from the handler because a TorchServe handler file may hold
one class only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from handlers.taxonomy import load_taxonomy


@dataclass(frozen=True)
class CategoryGroup:
    label: str
    name: str
    members: np.ndarray  # rows of the category head under the group
    members_set: frozenset[int]


def category_groups(categories: list[dict]) -> list[CategoryGroup]:
    """The taxonomy's groups over the model's categories, nearest ones first (a group's depth below the root,
    deepest first), each with the category rows under it."""
    taxonomy = load_taxonomy()
    rows = {c["label"]: i for i, c in enumerate(categories)}
    groups = []
    for label in taxonomy.groups():
        members = [rows[leaf] for leaf in taxonomy.leaves_under(label) if leaf in rows]
        if members:
            group = CategoryGroup(label, taxonomy.name(label), np.array(members), frozenset(members))
            groups.append((len(taxonomy.ancestors(label)), group))
    return [group for _, group in sorted(groups, key=lambda pair: -pair[0])]


def backed_off(leaf_score: float, group_scores: Sequence[float], thresholds: Mapping[str, float]) -> int | None:
    """What a tagging policy applies, given the best category's score, its groups' scores (nearest first; the last
    is its department, the taxonomy's top level) and the policy's category thresholds (`leaf`, `group`,
    `department`): -1 for the category itself when it reaches `leaf`; else the index of the nearest group that
    reaches its level's threshold, `group` below the department and `department` for the department (`group` where
    the table has no `department`: calibrations fitted before 2026-12-07); None when nothing is sure enough (the
    product is held for a person). A group's score is its
    categories' together, so a farther group is surer and coarser. The one rule the API
    (api/integrations/policy.py), the evaluation (scripts/evaluate.py) and the calibration that fits the
    thresholds (scripts/calibrate.py) apply."""
    if leaf_score >= thresholds["leaf"]:
        return -1
    group = thresholds["group"]
    department = group if thresholds.get("department") is None else thresholds["department"]
    last = len(group_scores) - 1
    return next((i for i, score in enumerate(group_scores) if score >= (group if i < last else department)), None)
