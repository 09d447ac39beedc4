"""Which pixels of a photo are the garment: not the background around it, not the skin of the model wearing it.

Shop photos sit on white and often show a model; consumer photos lie on beds, floors and carpets. The mask is
built on a small Lab image (handlers/colours.py downscales first):
1. the background is estimated from the border ring: a few k-means clusters, each with its own spread, so a
   patterned carpet is one background rather than many small differences. A colour counts as background when
   it shows all around the ring; a garment (or a model's head and feet) touches the edge in a few places only;
2. the garment is what differs from every background colour and is connected to the centre of the frame
   (what the photo was taken of), less its outline (half background after downscaling);
3. skin-coloured pixels are dropped unless they are most of what is left (then the garment is skin-coloured).
"""
from __future__ import annotations

import numpy as np

from handlers.colour_space import kmeans

BORDER_FRACTION = 1 / 12
BORDER_CLUSTERS = 6
BORDER_SEGMENTS = 16
# A border colour is present in a segment at this share of it, and background when present in this many segments.
MIN_SEGMENT_SHARE = 0.1
MIN_BACKGROUND_SEGMENTS = 0.4
# Distance (lightness at half weight) below which a pixel is background however uniform the background is
# (JPEG noise); a textured background's own spread times SPREAD_FACTOR, up to the maximum, is background too.
MIN_BACKGROUND_DISTANCE = 4.0
SPREAD_FACTOR = 1.5
MAX_BACKGROUND_DISTANCE = 20.0
# Below this share of the frame the "garment" is noise (a white shirt on white): read the centre instead.
MIN_GARMENT_SHARE = 0.03
# Skin is dropped only when at least this share of the garment is left without it.
MIN_NON_SKIN_SHARE = 0.3


def garment_mask(lab: np.ndarray) -> np.ndarray:
    """Boolean [H, W] over a Lab image [H, W, 3]: the garment's pixels (never empty)."""
    height, width, _ = lab.shape
    centres, thresholds = _background_model(lab)
    distances = _background_distance(lab[:, :, None, :], centres[None, None, :, :])
    foreground = _dilate(~_dilate(~np.all(distances > thresholds, axis=2)))  # opening: drops carpet specks
    garment = _connected_to_centre(foreground)
    inner = ~_dilate(~garment)
    minimum = MIN_GARMENT_SHARE * height * width
    if inner.sum() >= minimum:
        garment = inner
    elif garment.sum() < minimum:
        garment = _central_box(height, width)
    not_skin = garment & ~is_skin(lab)
    return not_skin if not_skin.sum() >= MIN_NON_SKIN_SHARE * garment.sum() else garment


def is_skin(lab: np.ndarray) -> np.ndarray:
    """Lab pixels in the range of human skin tones (hue 35–75°, moderate chroma, not very dark or light)."""
    lightness, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))
    return (lightness > 35) & (lightness < 88) & (hue > 35) & (hue < 75) & (chroma > 12) & (chroma < 40)


def _background_model(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Lab centres [n, 3], distance thresholds [n]) of the background colours."""
    pixels, segments = _border_pixels(lab)
    centres, _ = kmeans(pixels, BORDER_CLUSTERS)
    owner = _background_distance(pixels[:, None, :], centres[None, :, :]).argmin(axis=1)
    # counts[cluster, segment]: one bincount over (cluster, segment) pairs rather than one per segment.
    counts = np.bincount(owner * BORDER_SEGMENTS + segments, minlength=len(centres) * BORDER_SEGMENTS)
    counts = counts.reshape(len(centres), BORDER_SEGMENTS)
    present = counts / np.maximum(counts.sum(axis=0), 1) >= MIN_SEGMENT_SHARE
    background = present.sum(axis=1) >= MIN_BACKGROUND_SEGMENTS * BORDER_SEGMENTS
    background[np.bincount(owner, minlength=len(centres)).argmax()] = True
    thresholds = [
        np.clip(
            SPREAD_FACTOR * np.percentile(_background_distance(pixels[owner == i], centres[i]), 90),
            MIN_BACKGROUND_DISTANCE,
            MAX_BACKGROUND_DISTANCE,
        )
        for i in np.flatnonzero(background)
    ]
    return centres[background], np.array(thresholds)


def _background_distance(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """ΔE with lightness at half weight: a soft shadow on the background is still background."""
    difference = lab1 - lab2
    return np.sqrt((difference[..., 0] / 2) ** 2 + difference[..., 1] ** 2 + difference[..., 2] ** 2)


def border_ring(height: int, width: int) -> np.ndarray:
    """Boolean [H, W]: the frame's border ring, BORDER_FRACTION of the shorter side deep (also what
    handlers/images.py reads a studio backdrop from)."""
    ring = max(1, round(min(height, width) * BORDER_FRACTION))
    mask = np.zeros((height, width), dtype=bool)
    mask[:ring, :] = mask[-ring:, :] = mask[:, :ring] = mask[:, -ring:] = True
    return mask


def _border_pixels(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring's pixels [N, 3] and the angular segment around the centre each lies in."""
    height, width, _ = lab.shape
    rows, columns = np.nonzero(border_ring(height, width))
    angles = np.arctan2(rows - (height - 1) / 2, columns - (width - 1) / 2)
    segments = ((angles + np.pi) / (2 * np.pi) * BORDER_SEGMENTS).astype(int) % BORDER_SEGMENTS
    return lab[rows, columns], segments


def _dilate(mask: np.ndarray) -> np.ndarray:
    """One step of dilation with a 3×3 cross."""
    grown = mask.copy()
    grown[1:, :] |= mask[:-1, :]
    grown[:-1, :] |= mask[1:, :]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def _central_box(height: int, width: int) -> np.ndarray:
    box = np.zeros((height, width), dtype=bool)
    box[height // 4 : height - height // 4, width // 4 : width - width // 4] = True
    return box


def _connected_to_centre(mask: np.ndarray) -> np.ndarray:
    """The parts of `mask` reachable inside it from its pixels in the central box of the frame."""
    region = mask & _central_box(*mask.shape)
    if not region.any():
        return mask
    while True:
        grown = _dilate(region) & mask
        if np.array_equal(grown, region):
            return region
        region = grown
