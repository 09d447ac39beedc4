"""The model's training side: the embedding's proxies, the losses, the optimiser and its schedule.

The category head is trained on sets of leaves (`category_loss`: a group label marks all its leaves), attributes
and colours by cross-entropy with -1 for unlabelled rows; the embedding's semantic part is pulled towards a proxy
per category node and per colour (cosine softmax at `PROXY_SCALE`); with a teacher's scores beside the labels, each
head also learns them (kalas/distillation.py). kalas/training.py runs it epoch by epoch.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from handlers.models.fashion import FashionModel
from kalas.distillation import distillation_loss
from kalas.training_data import Examples

EMBEDDING_DIM = 256
# Cosine-softmax scale for the embedding's proxy losses (a temperature of 1/16).
PROXY_SCALE = 16.0


class Trainer:
    """The model plus the training-only parts (embedding proxies, optimiser, schedule)."""

    def __init__(self, model: FashionModel, nodes: int, colours: int, args: argparse.Namespace, steps: int) -> None:
        self.model = model
        semantic_dim = EMBEDDING_DIM - args.instance_dim
        device = next(model.parameters()).device  # drawn on the CPU: the same start on every device
        self.node_proxies = torch.nn.Parameter((torch.randn(nodes, semantic_dim) * 0.01).to(device))
        self.colour_proxies = torch.nn.Parameter((torch.randn(colours, semantic_dim) * 0.01).to(device))
        if getattr(args, "new_heads_only", False):
            # Only the heads of the attribute groups the --init checkpoint lacked learn; nothing it had moves.
            model.requires_grad_(False)
            new = [model.heads.texture[g] if g in model.heads.texture else model.heads.attributes[g] for g in args.new_groups]
            heads = [p for head in new for p in head.parameters()]
            for parameter in heads:
                parameter.requires_grad_(True)
            tail = []
        else:
            heads = list(model.heads.parameters()) + [self.node_proxies, self.colour_proxies]
            tail = [p for p in model.trainable_parameters() if all(p is not h for h in heads)]
        self.optimizer = torch.optim.AdamW(
            [{"params": heads, "lr": args.lr}, {"params": tail, "lr": args.lr * 0.3}], weight_decay=1e-4
        )
        self.colour_weight = args.colour_weight
        self.colour_head_weight = args.colour_head_weight
        self.label_smoothing = args.label_smoothing
        self.distill_weight = getattr(args, "distill_weight", 0.0)
        self.distill_temperature = getattr(args, "distill_temperature", 1.0)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=[args.lr, args.lr * 0.3], total_steps=steps, pct_start=0.1
        )

    def step(self, out: dict, batch: Examples) -> float:
        smoothing = self.label_smoothing
        loss = category_loss(out["category"], batch.category_mask, smoothing)
        for group, logits in out["attributes"].items():
            loss = loss + masked_cross_entropy(logits, batch.attributes[group], smoothing)
        embedding = out["semantic"]
        loss = loss + masked_cross_entropy(PROXY_SCALE * embedding @ F.normalize(self.node_proxies, dim=1).T, batch.category_node)
        colour_logits = PROXY_SCALE * embedding @ F.normalize(self.colour_proxies, dim=1).T
        loss = loss + self.colour_weight * masked_cross_entropy(colour_logits, batch.colour)
        if "colour" in out:
            loss = loss + self.colour_head_weight * masked_cross_entropy(out["colour"], batch.colour, smoothing)
        if batch.teacher is not None and self.distill_weight:
            loss = loss + self.distill_weight * distillation_loss(out, batch.teacher, self.distill_temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    @torch.no_grad()
    def seed_proxies(self, pooled: torch.Tensor, rows: Examples, batch: int = 1024) -> None:
        """Start each proxy at the mean embedding of its labelled rows (`pooled`: the rows' pooled features), so
        that a model trained on from a checkpoint keeps its embedding: random proxies would first pull it apart."""
        device = self.node_proxies.device
        semantic = torch.cat([self.model.heads(pooled[i : i + batch].to(device))["semantic"]
                              for i in range(0, len(pooled), batch)])
        for proxies, targets in ((self.node_proxies, rows.category_node), (self.colour_proxies, rows.colour)):
            labelled = targets >= 0
            sums = torch.zeros_like(proxies).index_add_(0, targets[labelled].to(device), semantic[labelled.to(device)])
            seen = sums.norm(dim=1) > 0
            proxies[seen] = F.normalize(sums[seen], dim=1)

    def state(self) -> dict:
        return {
            "model": self.model.trained_state(),
            "proxies": {"node": self.node_proxies.detach(), "colour": self.colour_proxies.detach()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load(self, state: dict) -> None:
        self.model.load_state_dict({**self.model.state_dict(), **state["model"]}, strict=True)
        with torch.no_grad():
            self.node_proxies.copy_(state["proxies"]["node"])
            self.colour_proxies.copy_(state["proxies"]["colour"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def category_loss(logits: torch.Tensor, mask: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """-log P(prediction in the labelled set of leaves); rows without a category label are left out.

    With `smoothing` ε the loss is mixed with ε × the mean -log p over all leaves, as label smoothing does."""
    labelled = mask.any(dim=1)
    if not labelled.any():
        return logits.sum() * 0.0
    logits, mask = logits[labelled], mask[labelled]
    normaliser = logits.logsumexp(dim=1)
    in_set = logits.masked_fill(~mask, float("-inf")).logsumexp(dim=1)
    loss = normaliser - in_set
    if smoothing:
        loss = (1 - smoothing) * loss + smoothing * (normaliser - logits.mean(dim=1))
    return loss.mean()


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    if not (target >= 0).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=-1, label_smoothing=smoothing)


def freeze_batch_norm(model: FashionModel) -> None:
    """Keep the ImageNet running statistics: batches of one data set would skew them towards it."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
