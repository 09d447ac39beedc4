"""MMFashion-compatible models and a strict loader for MMFashion's own checkpoint files.

    load_mmfashion_checkpoint(path, spec=None) -> tuple[MMFashionModel, MMFashionSpec]
    build_mmfashion_model(spec) -> MMFashionModel      # random weights, for tests and new training
    save_mmfashion_checkpoint(model, path, meta=None)  # the mmcv runner format

A checkpoint is an mmcv runner file `{"meta": ..., "state_dict": ..., "optimizer": ...}` (a bare state_dict
is accepted too), keys as MMFashion names them: `backbone.features.N.*` (VGG-16) or `backbone.layerX.Y.*`
(ResNet-50), `global_pool.global_layers.{0,3}.*`, `attr_predictor.linear_attr.*`, `cate_predictor.linear_cate.*`,
`embed_extractor.{embed_linear,bn,id_linear}.*`. Without a spec the architecture and sizes are read from the
keys and shapes; either way the load is strict and a mismatch raises ValueError naming the keys.

`MMFashionModel.forward(images)` (ImageNet MEAN/STD at 224 px) returns `{"category": logits [B, C]` when the
checkpoint has a category predictor, `"attributes": logits [B, A]` (one multi-label tensor: sigmoid at test,
as MMFashion does), `"embedding": [B, 256]` L2-normalised when it has an embed extractor}`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from handlers.models.mmfashion_backbones import BACKBONES
from handlers.models.state_keys import key_mismatch

INPUT_SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
POOL_SIDE = 7


@dataclass(frozen=True)
class MMFashionSpec:
    """Sizes of one MMFashion model; 0 leaves a head out. Defaults: the in-shop retrieval VGG-16 config."""

    arch: str = "vgg16"
    pool_hidden: int = 4096
    pool_out: int = 4096
    attributes: int = 463
    categories: int = 0
    embedding: int = 256
    ids: int = 7982


class GlobalPooling(nn.Module):
    """AdaptiveAvgPool to 7×7, then Linear→ReLU→Dropout→Linear→ReLU→Dropout (`global_layers.{0,3}`)."""

    def __init__(self, in_channels: int, hidden: int, out: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((POOL_SIDE, POOL_SIDE))
        self.global_layers = nn.Sequential(
            nn.Linear(in_channels * POOL_SIDE * POOL_SIDE, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(hidden, out),
            nn.ReLU(inplace=True),
            nn.Dropout(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_layers(self.avgpool(x).flatten(1))


class AttrPredictor(nn.Module):
    def __init__(self, in_features: int, attributes: int) -> None:
        super().__init__()
        self.linear_attr = nn.Linear(in_features, attributes)


class CatePredictor(nn.Module):
    def __init__(self, in_features: int, categories: int) -> None:
        super().__init__()
        self.linear_cate = nn.Linear(in_features, categories)


class EmbedExtractor(nn.Module):
    """`embed_linear` gives the retrieval embedding; `bn` and `id_linear` (item-id classifier) serve training."""

    def __init__(self, in_features: int, embedding: int, ids: int) -> None:
        super().__init__()
        self.embed_linear = nn.Linear(in_features, embedding)
        self.bn = nn.BatchNorm1d(embedding)
        self.id_linear = nn.Linear(embedding, ids)


class MMFashionModel(nn.Module):
    def __init__(self, spec: MMFashionSpec) -> None:
        super().__init__()
        if spec.arch not in BACKBONES:
            raise ValueError(f"unknown MMFashion backbone {spec.arch!r}; choose one of {sorted(BACKBONES)}")
        self.spec = spec
        self.backbone = BACKBONES[spec.arch]()
        self.global_pool = GlobalPooling(self.backbone.out_channels, spec.pool_hidden, spec.pool_out)
        self.attr_predictor = AttrPredictor(spec.pool_out, spec.attributes) if spec.attributes else None
        self.cate_predictor = CatePredictor(spec.pool_out, spec.categories) if spec.categories else None
        self.embed_extractor = EmbedExtractor(spec.pool_out, spec.embedding, spec.ids) if spec.embedding else None

    def forward(self, images: torch.Tensor) -> dict:
        pooled = self.global_pool(self.backbone(images))
        out: dict = {}
        if self.cate_predictor is not None:
            out["category"] = self.cate_predictor.linear_cate(pooled)
        if self.attr_predictor is not None:
            out["attributes"] = self.attr_predictor.linear_attr(pooled)
        if self.embed_extractor is not None:
            out["embedding"] = F.normalize(self.embed_extractor.embed_linear(pooled), dim=1)
        return out


def build_mmfashion_model(spec: MMFashionSpec) -> MMFashionModel:
    return MMFashionModel(spec)


def infer_spec(state: dict[str, torch.Tensor]) -> MMFashionSpec:
    """The architecture and head sizes a state_dict was saved from, read from its key names and shapes."""
    if "backbone.features.0.weight" in state:
        arch = "vgg16"
    elif "backbone.conv1.weight" in state:
        arch = "resnet50"
    else:
        prefixes = sorted({k.split(".")[0] + "." + k.split(".")[1] for k in state if "." in k})[:10]
        raise ValueError(
            "not an MMFashion VGG-16 or ResNet-50 checkpoint: neither backbone.features.0.weight nor "
            f"backbone.conv1.weight is present (found {prefixes})"
        )

    def rows(key: str) -> int:
        return int(state[key].shape[0]) if key in state else 0

    for key in ("global_pool.global_layers.0.weight", "global_pool.global_layers.3.weight"):
        if key not in state:
            raise ValueError(f"not an MMFashion checkpoint: missing keys ['{key}'] (GlobalPooling)")
    return MMFashionSpec(
        arch=arch,
        pool_hidden=rows("global_pool.global_layers.0.weight"),
        pool_out=rows("global_pool.global_layers.3.weight"),
        attributes=rows("attr_predictor.linear_attr.weight"),
        categories=rows("cate_predictor.linear_cate.weight"),
        embedding=rows("embed_extractor.embed_linear.weight"),
        ids=rows("embed_extractor.id_linear.weight"),
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The `state_dict` of an mmcv runner file (or a bare state_dict), DataParallel's `module.` prefix removed."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} holds a {type(checkpoint).__name__}, not an MMFashion checkpoint dict")
    state = checkpoint.get("state_dict", checkpoint)
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_mmfashion_checkpoint(
    path: str | Path, spec: MMFashionSpec | None = None
) -> tuple[MMFashionModel, MMFashionSpec]:
    """The model of an MMFashion checkpoint, loaded strictly, in eval mode."""
    state = read_state_dict(path)
    spec = spec or infer_spec(state)
    model = MMFashionModel(spec)
    mismatch = key_mismatch(model.state_dict(), state)
    if mismatch:
        raise ValueError(f"{path} does not match the MMFashion {spec.arch} model {asdict(spec)}: {mismatch}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # right names, wrong shapes
        raise ValueError(f"{path} does not match the MMFashion {spec.arch} model: {error}") from None
    return model.eval(), spec


def save_mmfashion_checkpoint(model: MMFashionModel, path: str | Path, meta: dict | None = None) -> None:
    """Write `model` as mmcv's runner does: `{"meta", "state_dict", "optimizer"}`."""
    torch.save({"meta": meta or {}, "state_dict": model.state_dict(), "optimizer": {}}, path)
