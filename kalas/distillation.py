"""Distillation: a trained teacher's scores as soft targets beside the labels (`scripts/train.py --teacher`).

Issue 23's stronger network may be too slow to serve on these 2 cores (Lite2 at 260 px: docs/benchmarks.md,
"Backbone options"); trained as a teacher, its scores can teach a network that serves in time. The teacher's
logits are read once per photo, as served (the photo framed as the archive frames it, at the teacher's own input
size; cached by kalas/served_outputs.py under the teacher's weights' digest), for every head the student has:
the category, each attribute group, the colour. The loss per head is the Kullback–Leibler divergence of the
student's softened scores from the teacher's, softmax(logits / T), times T² so that its gradients keep their scale
as T changes (Hinton et al., "Distilling the Knowledge in a Neural Network", 2015). The targets are the teacher's
scores on the photo as served, while the student may see an augmented view of it: the garment is the same.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from handlers.models.fashion import META_FILE
from kalas.served_outputs import CACHE_ROOT, served_outputs
from kalas.training_data import Examples


def teacher_logits(checkpoint: Path, examples: Examples, data_dirs: list[Path], space: dict, colours: list[str],
                   *, root: Path = CACHE_ROOT, progress: bool = True) -> dict[str, torch.Tensor]:
    """{head: [N, K] float32 logits} of the teacher for every example row: "category", "attributes.<group>" and,
    when both have one, "colour" (cached under `root`). SystemExit when the teacher's labels are not this run's, in
    the same order."""
    try:
        meta = json.loads((checkpoint / META_FILE).read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"--teacher: {checkpoint} is not a readable checkpoint ({error})") from None
    differ = [name for name, mine, theirs in (
        ("categories", space["categories"], meta.get("categories")),
        ("attributes", space["attributes"], {g: v for g, v in meta.get("attributes", {}).items() if g in space["attributes"]}),
    ) if mine != theirs]
    if differ:
        raise SystemExit(f"--teacher: {checkpoint}'s {' and '.join(differ)} are not this run's (another taxonomy): "
                         "a teacher must score the same labels in the same order")
    heads = ["category", *(f"attributes.{group}" for group in space["attributes"])]
    if colours and meta.get("colours") == colours:
        heads.append("colour")
    logits = {head: None for head in heads}
    for source, data_dir in enumerate(data_dirs):
        rows = torch.nonzero(examples.source == source).flatten()
        outputs = served_outputs([examples.records[i] for i in rows.tolist()], data_dir, checkpoint, root=root,
                                 progress=progress)
        for head in heads:
            if logits[head] is None:
                logits[head] = torch.zeros((len(examples.records), outputs[head].shape[1]))
            logits[head][rows] = torch.from_numpy(outputs[head])
    return logits


def distillation_loss(out: dict, teacher: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """The sum over the teacher's heads of KL(teacher ‖ student) on scores softened by `temperature`, times its
    square; the mean over rows."""
    loss = out["category"].sum() * 0.0
    for head, target in teacher.items():
        kind, _, group = head.partition(".")
        student = out["attributes"][group] if kind == "attributes" else out[kind]
        loss = loss + F.kl_div(F.log_softmax(student / temperature, dim=1), F.log_softmax(target / temperature, dim=1),
                               reduction="batchmean", log_target=True) * temperature ** 2
    return loss
