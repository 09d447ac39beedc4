"""The default Kalas-Iris model: EfficientNet-Lite0 with a fine-tuned tail and category/attribute/embedding heads.

    build_model(categories, attributes, *, embedding_dim=256, tune_from=TUNE_FROM, backbone_weights=None)
        -> FashionModel          # backbone from the package's ImageNet weights, heads freshly initialised
    load_fashion_model(checkpoint_dir, *, backbone_weights=None) -> tuple[FashionModel, dict]
        # the same model with the trained tail and heads of checkpoints/<name>/, in eval mode, plus its meta

`FashionModel.forward(images: Tensor[B, 3, INPUT_SIZE, INPUT_SIZE])` (normalised with MEAN/STD) returns
`{"category": Tensor[B, C] logits, "attributes": {group: Tensor[B, K_g] logits}, "embedding": Tensor[B, D]}`,
the embedding L2-normalised. Scores are softmax over each head's logits; categories are leaves of the taxonomy.

Only blocks [tune_from, 16), the conv head and the heads are trained; the earlier blocks keep the package's
ImageNet weights, so a checkpoint holds a few MB (`heads.pt`) and the backbone never enters git.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from handlers.models.efficientnet_lite import FEATURE_DIM, EfficientNetLite0, load_efficientnet_lite0

# Blocks from here on (7×7 at 224 px) are fine-tuned; the earlier ones stay as shipped.
TUNE_FROM = 14
WEIGHTS_FILE = "heads.pt"
META_FILE = "meta.json"


class FashionHeads(nn.Module):
    """Category, attribute-group and embedding heads over the pooled 1280-d backbone feature."""

    def __init__(self, num_categories: int, attributes: dict[str, int], embedding_dim: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.category = nn.Linear(FEATURE_DIM, num_categories)
        self.attributes = nn.ModuleDict({group: nn.Linear(FEATURE_DIM, size) for group, size in attributes.items()})
        self.embedding = nn.Linear(FEATURE_DIM, embedding_dim)

    def forward(self, features: torch.Tensor) -> dict:
        x = self.dropout(features)
        return {
            "category": self.category(x),
            "attributes": {group: head(x) for group, head in self.attributes.items()},
            "embedding": F.normalize(self.embedding(features), dim=1),
        }


class FashionModel(nn.Module):
    def __init__(self, backbone: EfficientNetLite0, heads: FashionHeads, tune_from: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = heads
        self.tune_from = tune_from

    def forward(self, images: torch.Tensor) -> dict:
        return self.from_cached(self.backbone.stem_and_blocks(images, until=self.tune_from))

    def from_cached(self, blocks_out: torch.Tensor) -> dict:
        """The outputs from the frozen part's output, which training caches once per image."""
        return self.heads(self.backbone.blocks_from(blocks_out, self.tune_from))

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The parameters a checkpoint stores: the tuned tail and the heads (not the ImageNet classifier)."""
        return {k: v for k, v in self.state_dict().items() if is_trained_key(k, self.tune_from)}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for k, p in self.named_parameters() if is_trained_key(k, self.tune_from)]


def is_trained_key(key: str, tune_from: int) -> bool:
    if key.startswith("heads."):
        return True
    if key.startswith(("backbone._conv_head.", "backbone._bn1.")):
        return True
    if key.startswith("backbone._blocks."):
        return int(key.split(".")[2]) >= tune_from
    return False


def build_model(
    categories: list[str],
    attributes: dict[str, list[str]],
    *,
    embedding_dim: int = 256,
    tune_from: int = TUNE_FROM,
    backbone_weights: str | Path | None = None,
) -> FashionModel:
    backbone = load_efficientnet_lite0(backbone_weights)
    heads = FashionHeads(len(categories), {g: len(labels) for g, labels in attributes.items()}, embedding_dim)
    return FashionModel(backbone, heads, tune_from)


def save_fashion_model(model: FashionModel, meta: dict, checkpoint_dir: str | Path) -> list[Path]:
    """Write `heads.pt` (tuned tail + heads, float32) and `meta.json`; returns the files written."""
    out = Path(checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.trained_state(), out / WEIGHTS_FILE)
    (out / META_FILE).write_text(json.dumps({**meta, "tune_from": model.tune_from}, indent=2) + "\n")
    return [out / WEIGHTS_FILE, out / META_FILE]


def load_fashion_model(
    checkpoint_dir: str | Path, *, backbone_weights: str | Path | None = None
) -> tuple[FashionModel, dict]:
    """The model of `checkpoint_dir` (meta.json + heads.pt) on the package backbone, in eval mode.

    Raises FileNotFoundError naming the missing file, and ValueError naming missing or unexpected keys.
    """
    root = Path(checkpoint_dir)
    for name in (META_FILE, WEIGHTS_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root} is not a fashion-model checkpoint: {name} is missing")
    meta = json.loads((root / META_FILE).read_text())
    model = build_model(
        meta["categories"],
        meta["attributes"],
        embedding_dim=meta["embedding_dim"],
        tune_from=meta["tune_from"],
        backbone_weights=backbone_weights,
    )
    trained = torch.load(root / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    expected = set(model.trained_state())
    missing, unexpected = sorted(expected - set(trained)), sorted(set(trained) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{root / WEIGHTS_FILE} does not fit its meta.json: missing keys {missing[:10]}, "
            f"unexpected keys {unexpected[:10]}"
        )
    model.load_state_dict({**model.state_dict(), **trained}, strict=True)
    return model.eval(), meta
