"""A photo's signals: what the model's heads say of it, as one vector stored and read beside its embedding.

The embedding places a photo among similar photos; it keeps little of what the heads were trained to tell apart
(a shirt's pattern, men's from unisex, navy from blue). The signals are the heads' own probabilities, softmax at
T = 1 over each head's logits (the network's output, the same for every kind of photo: calibration is the
policy's business, not a feature's), concatenated in one fixed order: category, then each attribute group in the
model's order, then colour. A shop's own model (kalas/shop_model.py) and the text encoder
(handlers/text_encoder.py) read the **joint vector**: the embedding and the signals weighted by JOINT_WEIGHT,
L2-normalised together. Measured in docs/benchmarks.md ("Shop models", "Text search").

    signals(heads)                       # [B, S] from FashionModel.heads' output (torch) or the cached logits
    signal_terms(meta)                   # what each of the S columns is: "category:tshirt", "gender:men", ...
    joint(embeddings, signals)           # [B, D + S] float32, unit rows
    joint_scores(query, cosines, signals, D)  # query · joint(e, s), knowing e only by its cosine with query[:D]
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# The signals' share of the joint vector: each head's probabilities sum to 1, the embedding has norm 1. Chosen on
# the simulated shops and the text search protocol (docs/benchmarks.md): 0.3 and 0.5 were within noise of each
# other on both; 0.15 gained less on the shops' pattern tags.
JOINT_WEIGHT = 0.3


def head_logits(heads: Mapping) -> list:
    """The heads' logits in the signals' order, from `FashionModel.heads`' output ({"category", "attributes":
    {group: ...}, "colour"}) or from the served-outputs cache's flat names ("category", "attributes.<group>",
    "colour"). An MMFashion model (one multi-label attribute tensor) has no signals: []."""
    if isinstance(heads.get("attributes"), Mapping):
        attributes = list(heads["attributes"].values())
    elif "attributes" in heads:
        return []
    else:
        attributes = [v for k, v in heads.items() if k.startswith("attributes.")]
    ordered = ([heads["category"]] if heads.get("category") is not None else []) + attributes
    return ordered + ([heads["colour"]] if heads.get("colour") is not None else [])


def signals(heads: Mapping) -> np.ndarray | None:
    """[B, S] float32: each head's softmax probabilities, concatenated in order; None for a model without them."""
    logits = head_logits(heads)
    if not logits:
        return None
    parts = []
    for values in logits:
        if hasattr(values, "detach"):  # a torch tensor (torch is not imported here: the API reads `joint` without it)
            values = values.detach().float().cpu().numpy()
        values = np.asarray(values, dtype=np.float32)
        shifted = np.exp(values - values.max(axis=1, keepdims=True))
        parts.append(shifted / shifted.sum(axis=1, keepdims=True))
    return np.concatenate(parts, axis=1)


def signal_terms(meta: Mapping) -> list[str]:
    """The term each column of the signals stands for, from a checkpoint's meta (its `categories`, `attributes`
    and `colours` label lists, in the heads' order): "category:<label>", "<group>:<value>", "colour:<label>"."""
    return ([f"category:{label}" for label in meta.get("categories") or []]
            + [f"{group}:{value}" for group, values in (meta.get("attributes") or {}).items() for value in values]
            + [f"colour:{label}" for label in meta.get("colours") or []])


def joint(embeddings: np.ndarray, signal_rows: np.ndarray, weight: float = JOINT_WEIGHT) -> np.ndarray:
    """[B, D + S] float32 unit rows: the embeddings beside `weight` × the signals."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    signal_rows = np.asarray(signal_rows, dtype=np.float32)
    if embeddings.ndim != 2 or signal_rows.ndim != 2 or len(embeddings) != len(signal_rows):
        raise ValueError(f"embeddings {embeddings.shape} and signals {signal_rows.shape} are not one row per photo")
    rows = np.concatenate([embeddings, weight * signal_rows], axis=1)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def joint_scores(query: np.ndarray, cosines: np.ndarray, signal_rows: np.ndarray | None, embedding_dim: int,
                 weight: float = JOINT_WEIGHT) -> np.ndarray:
    """[N]: `query` ([D + S], a text encoder's vector of the joint space) · joint(e, s) for N photos known by the
    cosine of their embedding e with the query's embedding part (what a vector index of embeddings answers) and
    their signals s ([N, S]; None: the photos have none, and the embedding part alone scores them).
    joint(e, s)·q = (|q_e| cos + w s·q_s) / sqrt(1 + w² |s|²) for a unit embedding e."""
    cosines = np.asarray(cosines, dtype=np.float32)
    query_embedding, query_signals = query[:embedding_dim], query[embedding_dim:]
    norm = float(np.linalg.norm(query_embedding))
    if signal_rows is None or not len(query_signals):
        return cosines if norm == 0 else cosines * norm
    signal_rows = np.asarray(signal_rows, dtype=np.float32)
    numerator = norm * cosines + weight * (signal_rows @ query_signals)
    return numerator / np.sqrt(1.0 + weight * weight * np.einsum("ij,ij->i", signal_rows, signal_rows))
