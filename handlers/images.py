"""Decoded photos to the model's input: how a photo is framed (`model_view`) and batched into a tensor.

Decoding untrusted bytes is handlers/decoding.py's (Pillow only, so the API can check photos without torch).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

from handlers.colours import WORK_SIDE, downscale
from handlers.decoding import BACKGROUND
from handlers.garment_mask import BORDER_FRACTION, border_ring

# How a photo is framed for the model (`model_view`). A studio shot, a backdrop of near-white pixels (every channel at
# least STUDIO_WHITE, within STUDIO_SPREAD of each other) on at least STUDIO_SHARE of its border ring, is shown
# whole. Any other photo (a garment on a bed, a floor, a rail) is shown CLOSE_UP times closer, its edges cut off.
STUDIO_WHITE = 225 / 255
STUDIO_SPREAD = 15 / 255
STUDIO_SHARE = 0.5
CLOSE_UP = 8 / 7
# Named in the training feature caches' keys (kalas/features.py): features cached under another framing are
# stale. The ring is read the way the garment mask reads it, on the colour code's small copy of the photo.
FRAMING = (f"studio{STUDIO_WHITE:.4f}-{STUDIO_SPREAD:.4f}-{STUDIO_SHARE}-{WORK_SIDE}/{BORDER_FRACTION:.4f}"
           f"|close{CLOSE_UP:.4f}")


def to_tensor(images: Sequence[Image.Image], size: int, mean: Sequence[float], std: Sequence[float], *,
              memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """RGB images → one normalised float tensor [B, 3, size, size] in `memory_format`.

    Each image is framed by `model_view`. The pixels are gathered as one uint8 array
    and normalised in whole-batch operations, with bit-for-bit the same results as image by image: measured here
    on a batch of 32, 0.25 ms per image instead of 0.44 (the model takes about 5.3). Channels-last is the layout
    those pixels already have, so asking for it (as the handlers do) costs no copy.
    """
    pixels = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        pixels[i] = model_view(image, size)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()  # NCHW shape over channels-last memory
    batch.div_(255.0).sub_(mean_t).div_(std_t)  # the same arithmetic, in the same order, as training has seen
    return batch.contiguous(memory_format=memory_format)


def model_view(image: Image.Image, size: int) -> np.ndarray:
    """The RGB pixels [size, size, 3] the model is shown for `image`.

    The photo is padded to a square on white and resized, so the whole garment stays in view undistorted (a
    centre crop of the photo itself would cut the hem or the sleeves off a portrait). A photo that is not a
    studio shot (`is_studio_shot`) is shown CLOSE_UP times closer: padded at 8/7 of `size`, its central `size`
    pixels. Training shows the network crops keeping 55–100% of a photo (kalas/features.py), so it knows
    garments a little larger than the whole frame shows them; on consumer photos the closer view scored about
    two points higher, on studio shots a little lower (docs/model_card.md, "Framing").
    """
    wide = size if is_studio_shot(image) else round(size * CLOSE_UP)
    padded = ImageOps.pad(image, (wide, wide), method=Image.Resampling.BILINEAR, color=BACKGROUND)
    offset = (wide - size) // 2
    return np.asarray(padded.crop((offset, offset, offset + size, offset + size)) if offset else padded)


PHOTO_KINDS = ("studio", "everyday")


def photo_kind(image: Image.Image) -> str:
    """"studio" (a shop's photo on a white backdrop) or "everyday" (a garment on a bed, a floor, a person): the
    two score differently, so the handler reads each with its own calibration (scripts/calibrate.py)."""
    return PHOTO_KINDS[0] if is_studio_shot(image) else PHOTO_KINDS[1]


def is_studio_shot(image: Image.Image) -> bool:
    """Whether the photo's border ring is mostly a white backdrop (the module's STUDIO_* settings).

    Read on the small copy the colour code works on (`downscale`), over the ring the garment mask reads its
    background from (`border_ring`). On the validation photos, 99.9% of fashion-products' shop photos and 0.5%
    of clothing's consumer photos are studio shots by this test.
    """
    small = downscale(image)
    ring = small[border_ring(*small.shape[:2])]
    low = ring.min(axis=1)
    backdrop = (low >= STUDIO_WHITE) & (ring.max(axis=1) - low <= STUDIO_SPREAD)
    return bool(backdrop.mean() >= STUDIO_SHARE)
