"""What a training run feeds the model: cached block outputs (and their augmented views), pooled features, or
photos decoded per epoch, in batches; and the model run on a device with its outputs back in float32.

Rows are example rows (kalas/training_data.py `Examples`); every input tensor is indexed by them.
"""
from __future__ import annotations

import argparse

import torch
from tqdm import tqdm

from handlers.frozen_model import map_tensors
from handlers.images import to_tensor
from handlers.models import MEAN, STD
from handlers.models.fashion import WHOLE, FashionModel
from kalas.dataset import Record
from kalas.features import cache_dir, cached_features, view_image
from kalas.training_data import Examples


def training_views(model: FashionModel, examples: Examples, train_index: torch.Tensor, val_index: torch.Tensor,
                   features_sha: str, args: argparse.Namespace) -> tuple[list, torch.nn.Module]:
    """(views, module): what the epochs draw their inputs from, view 0 the photos as served, and the part of the
    model that runs on them. `--tune-from 0`: the validation rows' photos (training decodes a fresh view of each
    every epoch); otherwise the cached block outputs of every view, pooled once when only the heads train."""
    frozen, whole = model.heads_only, args.tune_from == WHOLE
    if whole:
        if args.views:
            raise SystemExit("--views caches augmented views for the cached blocks; --tune-from 0 augments afresh every epoch")
        # Validation scores the photos as served, decoded once; training decodes a new view of each every epoch.
        views = [PhotoRows(examples.records, val_index, model.input_size, args.workers)]
        module = model
    else:
        views = [view_features(model, examples, train_index, view, features_sha, args) for view in range(args.views + 1)]
        if frozen:
            # Nothing before the heads is trained: pool every image once and train the heads on the vectors.
            model.eval()
            views = [pooled_features(model, features, args.no_progress) for features in views]
            module = model.heads
        else:
            module = model.from_cached
    return views, module


def training_pooled(model: FashionModel, inputs, examples: Examples, train_index: torch.Tensor,
                    args: argparse.Namespace) -> torch.Tensor:
    """[len(train_index), 2560 + 3 × texture channels] pooled features of the training photos as served, from what
    the run trains on."""
    if args.tune_from == WHOLE:
        return photo_pooled(model, examples.records, train_index, args.batch_size, args.workers)
    if model.heads_only:
        return inputs[train_index]
    return pooled_features(model, inputs[train_index], args.no_progress)


def view_features(
    model: FashionModel, examples: Examples, train_index: torch.Tensor, view: int, weights_sha: str,
    args: argparse.Namespace,
) -> torch.Tensor:
    """[N, C, H, W] fp16 cached block outputs of every example as `view` (Lite0 at 224 px: [N, 192, 7, 7]).
    Augmented views (view > 0) are computed for training rows only and their validation rows stay zero: validation
    scores the photo as served."""
    with torch.inference_mode():
        shape = model.backbone.stem_and_blocks(torch.zeros(1, 3, model.input_size, model.input_size),
                                               model.cache_block).shape[1:]
    features = torch.zeros((len(examples.records), *shape), dtype=torch.float16)
    wanted = torch.zeros(len(examples.records), dtype=torch.bool)
    wanted[train_index] = True
    for source, data_dir in enumerate(args.data_dirs):
        rows = torch.nonzero(examples.source == source).flatten()
        if view:
            rows = rows[wanted[rows]]
        records = [examples.records[i] for i in rows.tolist()]
        directory = cache_dir(data_dir, model.cache_block, weights_sha, model.input_size, args.cache_dir, view)
        features[rows] = cached_features(records, model.backbone, model.cache_block, directory, size=model.input_size,
                                         view=view, progress=not args.no_progress)
    return features


@torch.no_grad()  # not inference_mode: the heads' backward needs to save these tensors
def pooled_features(model: FashionModel, features: torch.Tensor, quiet: bool, batch: int = 128) -> torch.Tensor:
    device = next(model.parameters()).device
    chunks = [
        model.pooled(features[i : i + batch].float().to(device)).cpu()
        for i in tqdm(range(0, len(features), batch), desc="pooling", unit="batch", disable=quiet)
    ]
    return torch.cat(chunks)


def cached_batches(
    views: list[torch.Tensor], order: torch.Tensor, flips: torch.Tensor | None, drawn: torch.Tensor | None,
    batch_size: int,
):
    """(rows, inputs) batches of cached tensors: each row as its drawn view, its 7×7 map mirrored where flipped."""
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        x = views[0][rows].float()
        if drawn is not None:
            for view in range(1, len(views)):
                chosen = drawn[start : start + batch_size] == view
                x[chosen] = views[view][rows[chosen]].float()
        if flips is not None:
            flip = flips[start : start + batch_size]
            # A mirrored garment is the same garment; flipping the cached 7×7 map is the cheap stand-in.
            x[flip] = x[flip].flip(3)
        yield rows, x


class Photos(torch.utils.data.Dataset):
    """Example rows' photos as the model's input [3, size, size], as view `view` (features.view_image)."""

    def __init__(self, records: list[Record], view: int, size: int) -> None:
        self.records, self.view, self.size = records, view, size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, row: int) -> tuple[torch.Tensor, int]:
        return to_tensor([view_image(self.records[row], self.view, self.size)], self.size, MEAN, STD)[0], row


def photo_batches(
    records: list[Record], rows: torch.Tensor, view: int, size: int, batch_size: int, workers: int,
    device: torch.device
):
    """(rows, photos) batches of `rows` in order, at `size` px, decoded by `workers` processes (0: this one)."""
    loader = torch.utils.data.DataLoader(
        Photos(records, view, size),
        batch_sampler=[rows[i : i + batch_size].tolist() for i in range(0, len(rows), batch_size)],
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    for x, batch_rows in loader:
        yield batch_rows, x


class PhotoRows:
    """The photos of some example rows as served, decoded once, indexed by example row like the cached tensors."""

    def __init__(self, records: list[Record], rows: torch.Tensor, size: int, workers: int, batch_size: int = 64) -> None:
        self.position = torch.full((len(records),), -1, dtype=torch.long)
        self.position[rows] = torch.arange(len(rows))
        self.photos = torch.cat([x for _, x in photo_batches(records, rows, 0, size, batch_size, workers,
                                                             torch.device("cpu"))])

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        return self.photos[self.position[rows]]


@torch.no_grad()
def photo_pooled(model: FashionModel, records: list[Record], rows: torch.Tensor, batch_size: int, workers: int) -> torch.Tensor:
    """[len(rows), 2560 + 3 × texture channels] pooled features of the photos as served."""
    device = next(model.parameters()).device
    return torch.cat([
        model.pooled_photos(x.to(device)).float().cpu()
        for _, x in photo_batches(records, rows, 0, model.input_size, batch_size, workers, device)
    ])


def on_device(module, device: torch.device):
    """`module` run on `device` (in bf16 autocast on a GPU), its outputs in float32 for the losses."""
    amp = device.type == "cuda"

    def forward(x: torch.Tensor) -> dict:
        x = x.to(device, non_blocking=True, memory_format=torch.channels_last) if amp and x.dim() == 4 else x.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            return map_tensors(module(x), lambda t: t.float())

    return forward


def on_cpu(forward):
    """`forward` with its outputs moved to the CPU, where the validation labels are."""
    return lambda x: map_tensors(forward(x), lambda t: t.cpu())
