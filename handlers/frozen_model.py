"""The served model as one frozen TorchScript graph: batch norm folded into the convolutions, no Python per layer.

Why: on these 2-core CPUs the eager model spent a quarter of its time in batch norm and a further slice in
Python dispatch across ~160 modules. Measured here (EfficientNet-Lite0 and heads, channels-last, 2 threads):
one image 22.7 ms eager, 15.3 ms frozen; a batch of 8 202 ms eager, 117 ms frozen; outputs equal to 1e-5.
torch.jit is deprecated in favour of torch.compile, but compile's first call took 65 s here (inductor builds
C++), at every worker start, for a smaller gain (one image 36.4 → 28.7 ms, measured under load), so TorchScript
stays until torch.export offers the same.

The graph is traced on an example batch and checked against the eager model on a batch of another size, so a
model whose forward branches on its input (which a trace would freeze to one branch) fails at start, loudly.

`precision` "bf16" runs the graph on bfloat16 weights and activations (the inputs cast in, every output cast back
to float32), which oneDNN runs on the CPU's AMX/AVX-512 bf16 units where it has them. Measured here (Lite0 and
heads, docs/benchmarks.md "Served precision"): faster than float32, most of all in batches; on 96 photos each
photo's category, colour and embedding within a cosine of 0.998 of float32's, the age head's two logits (near zero)
0.978. The check against the eager float32 model is then by cosine, row by row.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

# Float32 kernels reorder sums once batch norm is folded in; a wrong trace differs by far more than this.
TOLERANCE = 1e-3
# bfloat16 keeps 8 bits of mantissa: each output row stays this close (cosine) to float32's; a wrong trace does not.
BF16_MIN_COSINE = 0.98
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # one per handlers/archive.py PRECISIONS
KeyPath = tuple[str, ...]


class FrozenModel(nn.Module):
    """Runs `model` as a frozen trace; answers the same (nested) dict of tensors the eager model returns."""

    def __init__(self, model: nn.Module, image_size: int, precision: str = "fp32") -> None:
        super().__init__()
        if precision not in DTYPES:
            raise ValueError(f"precision must be one of {', '.join(DTYPES)}, got {precision!r}")
        self.precision = precision
        model = model.eval()
        device = next(model.parameters()).device  # traced where it will run: the CPU, or a GPU
        example = _example(2, image_size).to(device)
        traced = _Flat(model) if precision == "fp32" else _Flat(_Cast(copy.deepcopy(model), DTYPES[precision]))
        with torch.no_grad():
            self.paths = [path for path, _ in _leaves(model(example))]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit: see the module docstring
                self.graph = torch.jit.freeze(torch.jit.trace(traced, example).eval())
        self._check_against(model, _example(3, image_size).to(device))

    def forward(self, images: torch.Tensor) -> Any:
        leaves = self.graph(images)
        if self.paths == [()]:
            return leaves[0]
        tree: dict = {}
        for path, tensor in zip(self.paths, leaves):
            node = tree
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = tensor
        return tree

    def _check_against(self, model: nn.Module, images: torch.Tensor) -> None:
        with torch.inference_mode():
            expected, found = _leaves(model(images)), _leaves(self(images))
        for (path, want), (_, got) in zip(expected, found):
            if want.shape != got.shape or not self._close(want, got):
                raise ValueError(
                    f"the frozen graph's output {'/'.join(path) or 'output'} differs from the eager model's: "
                    "its forward must branch on the input, which a trace cannot follow"
                )

    def _close(self, want: torch.Tensor, got: torch.Tensor) -> bool:
        if self.precision == "fp32":
            return torch.allclose(want, got, atol=TOLERANCE, rtol=TOLERANCE)
        rows = F.cosine_similarity(want.reshape(len(want), -1), got.reshape(len(got), -1), dim=1)
        return bool(rows.min() >= BF16_MIN_COSINE)


class _Cast(nn.Module):
    """The model on `dtype` weights, fed `dtype` inputs, its outputs back in float32 (what the handlers read)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.dtype = model.to(dtype), dtype

    def forward(self, images: torch.Tensor) -> dict:
        return map_tensors(self.model(images.to(self.dtype)), torch.Tensor.float)


def map_tensors(tree: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`fn` of every tensor of a (nested) dict of tensors, in the same shape: the models' outputs to float32, or to the
    CPU (the handlers, training)."""
    return {key: map_tensors(value, fn) for key, value in tree.items()} if isinstance(tree, dict) else fn(tree)


class _Flat(nn.Module):
    """The model with its outputs as a flat tuple: a trace cannot return a dict that mixes tensors and dicts."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(tensor for _, tensor in _leaves(self.model(images)))


def _leaves(tree: Any, prefix: KeyPath = ()) -> list[tuple[KeyPath, torch.Tensor]]:
    """(key path, tensor) for every tensor of a nested dict, in the dict's own order."""
    if isinstance(tree, torch.Tensor):
        return [(prefix, tree)]
    if not isinstance(tree, dict):
        raise TypeError(f"the model returned a {type(tree).__name__}; the handlers expect tensors in (nested) dicts")
    return [leaf for key, value in tree.items() for leaf in _leaves(value, prefix + (key,))]


def _example(batch: int, size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=generator)
    return images.contiguous(memory_format=torch.channels_last)
