"""The taxonomy's groups over a category head's rows: what the attributes handler scores a group with (the
probability of all its categories together). Apart from the handler because a TorchServe handler file may hold
one class only."""
from __future__ import annotations

from dataclasses import dataclass

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
