"""Validation figures computed during training, per data directory, from the cached backbone outputs.

A category prediction is right when the row's label is the predicted leaf or one of its groups
(`Taxonomy.matches`). Retrieval precision@5 counts, for each validation image, how many of its 5 nearest
validation images of the same directory (cosine, itself left out) carry the same category label.
The full report (per class, confusion, colours) is `scripts/evaluate.py`'s job on the served model.
"""
from __future__ import annotations

from typing import Callable

import torch

from handlers.taxonomy import Taxonomy
from kalas.training_data import Examples

BATCH = 256


@torch.no_grad()
def predict(forward: Callable[[torch.Tensor], dict], inputs: torch.Tensor, index: torch.Tensor) -> dict:
    outputs = [forward(inputs[index[i : i + BATCH]].float()) for i in range(0, len(index), BATCH)]
    predicted = {
        "category": torch.cat([o["category"] for o in outputs]),
        "attributes": {g: torch.cat([o["attributes"][g] for o in outputs]) for g in outputs[0]["attributes"]},
        "embedding": torch.cat([o["embedding"] for o in outputs]),
    }
    if "colour" in outputs[0]:
        predicted["colour"] = torch.cat([o["colour"] for o in outputs])
    return predicted


def precision_at_k(embedding: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float | None:
    """None when fewer than k + 1 labelled images exist to rank."""
    keep = labels >= 0
    embedding, labels = embedding[keep], labels[keep]
    if len(labels) <= k:
        return None
    similarity = embedding @ embedding.T
    similarity.fill_diagonal_(float("-inf"))
    neighbours = similarity.topk(k, dim=1).indices
    return float((labels[neighbours] == labels[:, None]).float().mean())


def validate(
    forward: Callable[[torch.Tensor], dict],
    inputs: torch.Tensor,
    examples: Examples,
    val_index: torch.Tensor,
    taxonomy: Taxonomy,
    kinds: list[str],
    names: list[str],
) -> dict:
    """{directory name: {"kind", "count", "category": {top1, top5, macro_top1}, "attributes": {...}, "retrieval": {...}}}

    `forward` maps a batch of `inputs` rows (cached block outputs or pooled features) to the model's outputs.
    """
    out = predict(forward, inputs, val_index)
    val = examples.subset(val_index)
    report = {}
    for source, (name, kind) in enumerate(zip(names, kinds)):
        rows = torch.nonzero(val.source == source).flatten()
        entry: dict = {"kind": kind, "count": len(rows)}
        mask = val.category_mask[rows]
        labelled = mask.any(dim=1)
        if labelled.any():
            logits, mask, nodes = out["category"][rows][labelled], mask[labelled], val.category_node[rows][labelled]
            top5 = logits.topk(5, dim=1).indices
            hit1 = mask.gather(1, top5[:, :1]).squeeze(1)
            hit5 = mask.gather(1, top5).any(dim=1)
            per_class = [float(hit1[nodes == n].float().mean()) for n in nodes.unique()]
            entry["category"] = {
                "count": int(labelled.sum()),
                "top1": float(hit1.float().mean()),
                "top5": float(hit5.float().mean()),
                "macro_top1": sum(per_class) / len(per_class),
            }
        attributes = {}
        for group, logits in out["attributes"].items():
            target = val.attributes[group][rows]
            keep = target >= 0
            if keep.any():
                correct = logits[rows][keep].argmax(dim=1) == target[keep]
                attributes[group] = {"count": int(keep.sum()), "top1": float(correct.float().mean())}
        entry["attributes"] = attributes
        target = val.colour[rows]
        if "colour" in out and (target >= 0).any():
            # The colour head alone; the served colour also weighs the garment's pixels (scripts/evaluate.py).
            keep = target >= 0
            correct = out["colour"][rows][keep].argmax(dim=1) == target[keep]
            entry["colour_head"] = {"count": int(keep.sum()), "top1": float(correct.float().mean())}
        entry["retrieval"] = {"precision_at_5": precision_at_k(out["embedding"][rows], val.category_node[rows])}
        report[name] = entry
    return report
