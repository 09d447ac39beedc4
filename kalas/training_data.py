"""Labelled examples for training: each data directory's rows in taxonomy terms, as target tensors.

A data directory is any folder in the shared-data layout; its kind (fashion-products, clothing, the API's
review export) is detected from the columns of its labels.csv. Targets use the model's fixed label order
(the taxonomy's leaves and attribute values), so runs on different data give heads of the same shape:
- category: a 0/1 mask over leaves (a group label such as "shoes" marks all its leaves; the loss maximises
  the probability of the set), all-zero when unlabelled;
- attributes: one index per group, -1 when unlabelled;
- retrieval: the mapped category node and colour as class indices for the embedding's proxy losses, -1 when
  unlabelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from handlers.taxonomy import Taxonomy
from kalas.dataset import Record, read_records, split


@dataclass
class Examples:
    """Rows of one or more directories: records plus aligned target tensors."""

    records: list[Record]
    source: torch.Tensor  # [N] index into the data directories
    category_mask: torch.Tensor  # [N, leaves] bool
    category_node: torch.Tensor  # [N] index into `node_labels`, -1 unlabelled
    attributes: dict[str, torch.Tensor]  # group -> [N] value index, -1 unlabelled
    colour: torch.Tensor  # [N] index into the colour vocabulary, -1 unlabelled
    teacher: dict[str, torch.Tensor] | None = None  # head -> [N, K] a teacher's logits (kalas/distillation.py)

    def subset(self, index: torch.Tensor) -> "Examples":
        return self._map([self.records[i] for i in index.tolist()], lambda t: t[index])

    def to(self, device: torch.device) -> "Examples":
        """The same rows with their target tensors on `device`."""
        return self._map(self.records, lambda t: t.to(device))

    def _map(self, records: list[Record], fn) -> "Examples":
        """`records` with `fn` applied to every target tensor."""
        return Examples(
            records=records,
            source=fn(self.source),
            category_mask=fn(self.category_mask),
            category_node=fn(self.category_node),
            attributes={g: fn(t) for g, t in self.attributes.items()},
            colour=fn(self.colour),
            teacher=None if self.teacher is None else {head: fn(t) for head, t in self.teacher.items()},
        )


def label_space(taxonomy: Taxonomy) -> dict:
    """The model's output labels, fixed by the taxonomy: {"categories": [...], "attributes": {group: [...]}}."""
    return {
        "categories": taxonomy.leaves,
        "attributes": {group: [t.label for t in terms] for group, terms in taxonomy.attributes.items()},
    }


def node_labels(taxonomy: Taxonomy) -> list[str]:
    return [c.label for c in taxonomy.categories]


def read_examples(data_dirs: list[Path], taxonomy: Taxonomy) -> tuple[Examples, list[str]]:
    """All labelled rows of `data_dirs` and the kind of each directory. Rows with no usable label are dropped."""
    space = label_space(taxonomy)
    leaf_index = {label: i for i, label in enumerate(space["categories"])}
    nodes = {label: i for i, label in enumerate(node_labels(taxonomy))}
    colours = {c.label: i for i, c in enumerate(taxonomy.colours)}
    values = {g: {v: i for i, v in enumerate(vs)} for g, vs in space["attributes"].items()}

    records, sources, masks, node_ids, colour_ids, kinds = [], [], [], [], [], []
    attribute_ids: dict[str, list[int]] = {g: [] for g in values}
    for source, data_dir in enumerate(data_dirs):
        rows = read_records(data_dir)
        if not rows:
            raise ValueError(f"{data_dir} has no labelled images (labels.csv rows whose images/<id>.jpg exists)")
        mapping = taxonomy.detect(["id", *rows[0].labels])
        kinds.append(mapping.name)
        for record in rows:
            annotation = mapping.annotate(record.labels)
            if annotation.category is None and not annotation.attributes and annotation.colour is None:
                continue
            mask = torch.zeros(len(leaf_index), dtype=torch.bool)
            if annotation.category is not None:
                mask[[leaf_index[leaf] for leaf in taxonomy.leaves_under(annotation.category)]] = True
            records.append(record)
            sources.append(source)
            masks.append(mask)
            node_ids.append(nodes[annotation.category] if annotation.category else -1)
            colour_ids.append(colours[annotation.colour] if annotation.colour else -1)
            for group, index in values.items():
                value = annotation.attributes.get(group)
                attribute_ids[group].append(index[value] if value is not None else -1)
    examples = Examples(
        records=records,
        source=torch.tensor(sources),
        category_mask=torch.stack(masks),
        category_node=torch.tensor(node_ids),
        attributes={g: torch.tensor(ids) for g, ids in attribute_ids.items()},
        colour=torch.tensor(colour_ids),
    )
    return examples, kinds


def split_examples(examples: Examples) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (train, validation) by the project's one split (`kalas.dataset.split`)."""
    train, val = split(examples.records)
    val_ids = {id(r) for r in val}
    is_val = torch.tensor([id(r) in val_ids for r in examples.records])
    assert len(train) + len(val) == len(examples.records)
    return torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()
