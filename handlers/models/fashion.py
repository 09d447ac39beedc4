"""The default Kalas-Iris model: EfficientNet-Lite (Lite0 by default, or Lite2) with category, attribute-group and
embedding heads.

    build_model(categories, attributes, *, embedding_dim=256, instance_dim=0, instance_weight=0.5,
                tune_from=None, backbone="efficientnet-lite0", input_size=None, backbone_weights=None)
        -> FashionModel          # backbone from the package's ImageNet weights, heads freshly initialised
    load_fashion_model(checkpoint_dir, *, backbone_weights=None) -> tuple[FashionModel, dict]
        # the same model with the trained parts of checkpoints/<name>/, in eval mode, plus its meta.json

`FashionModel.forward(images: Tensor[B, 3, S, S])` (S its `input_size`, normalised with MEAN/STD) returns
`{"category": Tensor[B, C] logits, "attributes": {group: Tensor[B, K_g] logits}, "embedding": Tensor[B, D]}`,
the embedding L2-normalised, plus `"semantic"` and, with a colour head, `"colour"` (Tensor[B, colours] logits).
Scores are softmax over each head's logits; categories are the taxonomy's leaves.

The heads read the last feature map average- and max-pooled (2 × 1280), through one shared hidden layer; the
attribute groups named `texture_groups` (the pattern) read instead the mean, deviation and max over space of
the texture block's output (Lite0's block 14, `Backbone.texture_block`), through a hidden layer of their own.
The embedding has two parts, concatenated and L2-normalised together: a semantic part (a learned projection,
trained so that neighbours share the category) and, when `instance_dim` > 0, an instance part: the average-
pooled features projected on their first `instance_dim` principal components (fitted on the training photos
by `fit_instance_projection`) and weighted by `instance_weight`. The semantic part alone collapses photos of one
class together; the instance part keeps a re-encoded or slightly cropped copy of a photo next to its original.
`tune_from` says which blocks are trained with them: the backbone's number of blocks (Lite0: 16, the default)
trains the heads alone; `earliest_tuned` (Lite0: 12) to one less also fine-tune the blocks from there and the conv
head; WHOLE (0) the whole network, stem included. Training starts from the output of blocks [0, cache_block) (the
first tuned block, or the texture block when fewer are tuned), which it
caches per image (`from_cached`); the whole network trains on the photos themselves (cache_block 0: the stem's
output, recomputed every step).
With `colours` > 0 a colour head reads the shared hidden layer too ("colour" logits over the taxonomy's colour
vocabulary): the served colour namer weighs it against the garment's pixels (handlers/colour_classifier.py).
A checkpoint (`heads.pt`) holds only the parts that differ from ImageNet's network (meta.json's `backbone` says
which, `input_size` at what size it sees photos, `tune_from` from which block): a few MB for the heads, about 20 MB
when the whole of Lite0 is tuned; the ImageNet backbone it
starts from comes from its package and never enters git. A model trained on from another checkpoint
(`scripts/train.py --init`) keeps storing what that checkpoint had tuned (`stored_from`), whatever it tunes itself.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from handlers.models.efficientnet_lite import (BACKBONES, FEATURE_DIM, LITE0, Backbone, EfficientNetLite,
                                               backbone_named, load_efficientnet_lite)
from handlers.models.state_keys import key_mismatch

WHOLE = 0
POOLED_DIM = 2 * FEATURE_DIM
# Texture heads (the pattern) read the output of blocks [0, texture_block) (Lite0: [192, 7, 7] at 224 px) through
# its mean, standard deviation and maximum over space: measured, a pattern head there reaches 0.91 top-1 on
# held-out photos, one over the last feature map 0.80 (docs/model_card.md, "Pattern").
TEXTURE_HIDDEN = 256
WEIGHTS_FILE = "heads.pt"
META_FILE = "meta.json"


def texture_head(values: int, channels: int = LITE0.texture_channels) -> nn.Sequential:
    """A head over the texture statistics of a `channels`-channel map (3 × channels: mean, deviation, max):
    normalised per feature (BatchNorm1d: its statistics are learned with it), then one hidden layer."""
    dim = 3 * channels
    return nn.Sequential(nn.BatchNorm1d(dim), nn.Dropout(0.3), nn.Linear(dim, TEXTURE_HIDDEN),
                         nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(TEXTURE_HIDDEN, values))


class FashionHeads(nn.Module):
    """One shared hidden layer over the pooled features, then the category, attribute and embedding heads."""

    def __init__(
        self,
        num_categories: int,
        attributes: dict[str, int],
        embedding_dim: int,
        *,
        instance_dim: int = 0,
        instance_weight: float = 0.5,
        colours: int = 0,
        texture_groups: tuple[str, ...] = (),
        texture_channels: int = LITE0.texture_channels,
        hidden: int = 512,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if not 0 <= instance_dim < embedding_dim:
            raise ValueError(f"instance_dim must lie in [0, embedding_dim={embedding_dim}), got {instance_dim}")
        self.hidden = nn.Sequential(nn.Dropout(0.1), nn.Linear(POOLED_DIM, hidden), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.category = nn.Linear(hidden, num_categories)
        self.attributes = nn.ModuleDict({group: nn.Linear(hidden, size) for group, size in attributes.items()
                                         if group not in texture_groups})
        self.texture = nn.ModuleDict({group: texture_head(attributes[group], texture_channels)
                                      for group in texture_groups})
        self.texture_channels = texture_channels
        self.embedding = nn.Linear(hidden, embedding_dim - instance_dim)
        self.instance_weight = instance_weight
        if colours:
            self.colour = nn.Linear(hidden, colours)
        if instance_dim:
            # Buffers, not parameters: fitted once after training (fit_instance_projection), saved with the heads.
            self.register_buffer("instance_mean", torch.zeros(FEATURE_DIM))
            self.register_buffer("instance_projection", torch.zeros(FEATURE_DIM, instance_dim))

    def forward(self, features: torch.Tensor) -> dict:
        """`features`: [B, POOLED_DIM + 3 × texture channels], what FashionModel.pooled gives."""
        pooled, texture = features[:, :POOLED_DIM], features[:, POOLED_DIM:]
        h = self.hidden(pooled)
        x = self.dropout(h)
        semantic = F.normalize(self.embedding(h), dim=1)
        embedding = semantic
        if hasattr(self, "instance_projection"):
            average = pooled[:, :FEATURE_DIM]  # pooled is [average | max]
            instance = F.normalize((average - self.instance_mean) @ self.instance_projection, dim=1)
            embedding = F.normalize(torch.cat([semantic, self.instance_weight * instance], dim=1), dim=1)
        out = {
            "category": self.category(x),
            "attributes": {**{group: head(x) for group, head in self.attributes.items()},
                           **{group: head(texture) for group, head in self.texture.items()}},
            "embedding": embedding,
            "semantic": semantic,  # what training's embedding losses see
        }
        if hasattr(self, "colour"):
            out["colour"] = self.colour(x)
        return out

    @torch.no_grad()
    def fit_instance_projection(self, average_pooled: torch.Tensor) -> None:
        """Fit the instance part on [N, 1280] average-pooled features of the training photos (PCA)."""
        mean = average_pooled.mean(dim=0)
        _, _, vt = torch.linalg.svd(average_pooled - mean, full_matrices=False)
        components = vt[: self.instance_projection.shape[1]].T
        self.instance_mean.copy_(mean)
        # Fewer photos than dimensions give fewer components; the rest of the projection stays zero.
        self.instance_projection.zero_()
        self.instance_projection[:, : components.shape[1]] = components


class FashionModel(nn.Module):
    def __init__(self, backbone: EfficientNetLite, heads: FashionHeads, tune_from: int | None = None, *,
                 stored_from: int | None = None, input_size: int | None = None) -> None:
        """`tune_from` None: the heads alone. `stored_from`: where the backbone this model starts from already
        differs from ImageNet's (a model built on another checkpoint's tuned blocks): its checkpoint then stores
        those blocks too. `input_size`: the photos' side in pixels (the backbone's own by default)."""
        super().__init__()
        spec = backbone.spec
        tune_from = spec.num_blocks if tune_from is None else tune_from
        for name, value in (("tune_from", tune_from), ("stored_from", stored_from)):
            if value is not None and not (value == WHOLE or spec.earliest_tuned <= value <= spec.num_blocks):
                raise ValueError(f"{name} must be {WHOLE} or lie in [{spec.earliest_tuned}, {spec.num_blocks}] for "
                                 f"{spec.name}, got {value}")
        if heads.texture_channels != spec.texture_channels:
            raise ValueError(f"the texture heads read {heads.texture_channels} channels; {spec.name}'s texture block "
                             f"has {spec.texture_channels}")
        self.backbone = backbone
        self.heads = heads
        self.spec = spec
        self.input_size = input_size or spec.input_size
        self.tune_from = tune_from
        self.stored_from = tune_from if stored_from is None else min(tune_from, stored_from)
        self.cache_block = min(tune_from, spec.texture_block)

    @property
    def heads_only(self) -> bool:
        """Nothing of the backbone is trained."""
        return self.tune_from == self.spec.num_blocks

    def forward(self, images: torch.Tensor) -> dict:
        return self.heads(self.pooled_photos(images))

    def pooled_photos(self, images: torch.Tensor) -> torch.Tensor:
        """[B, POOLED_DIM + 3 × texture channels] head inputs of normalised photos (`pooled`)."""
        return self.pooled(self.backbone.stem_and_blocks(images, until=self.cache_block))

    def pooled(self, blocks_out: torch.Tensor) -> torch.Tensor:
        """[B, POOLED_DIM + 3 × texture channels] from the output of blocks [0, cache_block): the average and the
        max of the last feature map, then the mean, standard deviation and max over space of the output of blocks
        [0, texture_block)."""
        x = blocks_out
        texture_block = self.spec.texture_block
        for block in self.backbone._blocks[self.cache_block:texture_block]:
            x = block(x)
        feature_map = self.backbone.head_map(x, texture_block)
        return torch.cat([feature_map.mean(dim=(2, 3)), feature_map.amax(dim=(2, 3)),
                          x.mean(dim=(2, 3)), x.std(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)

    def from_cached(self, blocks_out: torch.Tensor) -> dict:
        return self.heads(self.pooled(blocks_out))

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The tensors a checkpoint stores: the heads and, when tuned, the tail of the backbone."""
        return {k: v for k, v in self.state_dict().items() if is_trained_key(k, self.stored_from, self.spec)}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for k, p in self.named_parameters() if is_trained_key(k, self.tune_from, self.spec)]


def is_trained_key(key: str, tune_from: int, spec: Backbone) -> bool:
    if key.startswith("heads."):
        return True
    if tune_from >= spec.num_blocks:
        return False
    if key.startswith(("backbone._conv_head.", "backbone._bn1.")):
        return True
    if tune_from == WHOLE and key.startswith(("backbone._conv_stem.", "backbone._bn0.")):
        return True
    return key.startswith("backbone._blocks.") and int(key.split(".")[2]) >= tune_from


def build_model(
    categories: list[str],
    attributes: dict[str, list[str]],
    *,
    embedding_dim: int = 256,
    instance_dim: int = 0,
    instance_weight: float = 0.5,
    colours: int = 0,
    texture_groups: tuple[str, ...] = (),
    tune_from: int | None = None,
    backbone: str = LITE0.name,
    input_size: int | None = None,
    backbone_weights: str | Path | None = None,
) -> FashionModel:
    """`embedding_dim` is the whole embedding's size, `instance_dim` of it the instance part (0: none);
    `colours` the size of the colour vocabulary the colour head names (0: no colour head); `texture_groups` the
    attribute groups whose heads read the texture statistics instead of the shared hidden layer; `backbone` a
    name of `BACKBONES` (ValueError for another), `input_size` the photos' side (the backbone's own by default)."""
    spec = backbone_named(backbone)
    network = load_efficientnet_lite(spec, backbone_weights)
    heads = FashionHeads(
        len(categories),
        {g: len(labels) for g, labels in attributes.items()},
        embedding_dim,
        instance_dim=instance_dim,
        instance_weight=instance_weight,
        colours=colours,
        texture_groups=tuple(texture_groups),
        texture_channels=spec.texture_channels,
    )
    return FashionModel(network, heads, tune_from, input_size=input_size)


def input_size_of(meta: dict) -> int:
    """The side in pixels a checkpoint's model sees photos at (meta.json's `input_size`, else its backbone's own)."""
    return meta.get("input_size") or backbone_named(meta.get("backbone", LITE0.name)).input_size


def save_fashion_model(model: FashionModel, meta: dict, checkpoint_dir: str | Path) -> list[Path]:
    """Write `heads.pt` (the trained tensors) and `meta.json`; returns the files written."""
    out = Path(checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.trained_state(), out / WEIGHTS_FILE)
    meta = {**meta, "backbone": model.spec.name, "input_size": model.input_size, "tune_from": model.stored_from}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return [out / WEIGHTS_FILE, out / META_FILE]


def build_from_meta(meta: dict, **overrides) -> FashionModel:
    """The model a checkpoint's meta.json describes, its heads fresh (`load_fashion_model` then loads the trained
    tensors); `overrides`: build_model's arguments to change (another `backbone`, `input_size`, `tune_from`)."""
    return build_model(meta["categories"], meta["attributes"], **{
        "embedding_dim": meta["embedding_dim"],
        "instance_dim": meta.get("instance_dim", 0),  # checkpoints from before the instance part have none
        "instance_weight": meta.get("instance_weight", 0.5),
        "colours": len(meta.get("colours", [])),  # checkpoints from before the colour head have none
        "texture_groups": tuple(meta.get("texture_groups", ())),  # and from before the pattern, none of these
        "tune_from": meta.get("tune_from"),
        "backbone": meta.get("backbone", LITE0.name),  # and from before Lite2 name Lite0 or nothing
        "input_size": input_size_of(meta),
        **overrides,
    })


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
    backbone = meta.get("backbone", LITE0.name)  # checkpoints from before Lite2 name Lite0 or nothing
    if backbone not in BACKBONES:
        raise ValueError(f"{root / META_FILE} names the backbone {backbone!r}: one of {', '.join(BACKBONES)}")
    model = build_from_meta(meta, backbone_weights=backbone_weights)
    trained = torch.load(root / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    mismatch = key_mismatch(model.trained_state(), trained)
    if mismatch:
        raise ValueError(f"{root / WEIGHTS_FILE} does not fit its meta.json: {mismatch}")
    try:
        model.load_state_dict({**model.state_dict(), **trained}, strict=True)
    except RuntimeError as error:  # right names, wrong shapes
        raise ValueError(f"{root / WEIGHTS_FILE} does not fit its meta.json: {error}") from None
    return model.eval(), meta
