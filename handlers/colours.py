"""The garment's dominant colours, read from its own pixels, named from the taxonomy's colour vocabulary.

Why pixels and not the backbone: ImageNet features named colours right about half the time here, and the
garment's colour is plainly in the image. Why not the whole frame: shop photos sit on white, and consumer
photos lie on beds, floors and carpets, so the most common colour of the frame is often the background's.

The steps, on a copy downscaled to `WORK_SIDE` pixels (so a request costs a few milliseconds):
1. convert to CIELAB, where distances roughly follow what people see;
2. estimate the background from the border ring (a few k-means clusters, each with its own spread, so a
   patterned carpet is recognised as one background and not as many small differences);
3. keep the pixels that differ from every background cluster and are connected to the centre of the frame
   (the garment is what the photo was taken of);
4. cluster the garment's pixels in Lab, name each cluster by the nearest vocabulary colour under CIEDE2000
   with the textile industry's lightness weight (kL = 2: folds and shadows change lightness far more than hue),
   and merge clusters that get the same name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

WORK_SIDE = 64
BORDER_FRACTION = 1 / 12
BORDER_CLUSTERS = 6
BORDER_SEGMENTS = 16
# A border colour counts as present in a segment at this share of it, and as background when present in this
# fraction of the segments.
MIN_SEGMENT_SHARE = 0.1
MIN_BACKGROUND_SEGMENTS = 0.4
# ΔE76 below which a pixel is taken for background however uniform the background is (JPEG noise, soft shadows).
MIN_BACKGROUND_DISTANCE = 10.0
# A textured background's own spread times this is still background.
SPREAD_FACTOR = 1.5
MAX_BACKGROUND_DISTANCE = 20.0
# Below this share of the frame the "garment" is noise (e.g. a white shirt on white): read the centre instead.
MIN_GARMENT_SHARE = 0.03
KMEANS_ITERATIONS = 8
LIGHTNESS_WEIGHT = 2.0

_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)


@dataclass(frozen=True)
class Palette:
    """Named reference colours: `names[i]` is drawn as `hexes[i]`; `lab` holds them in CIELAB."""

    names: tuple[str, ...]
    hexes: tuple[str, ...]
    lab: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, str]]) -> "Palette":
        if not pairs:
            raise ValueError("a colour palette needs at least one (name, hex) pair")
        names = tuple(name for name, _ in pairs)
        hexes = tuple(hex_value for _, hex_value in pairs)
        rgb = np.array([hex_to_rgb(value) for value in hexes], dtype=np.float64) / 255.0
        return cls(names=names, hexes=hexes, lab=srgb_to_lab(rgb))

    def nearest(self, lab: np.ndarray) -> np.ndarray:
        """Index of the nearest palette colour for each Lab row of `lab` (shape [N, 3])."""
        distances = ciede2000(lab[:, None, :], self.lab[None, :, :], k_l=LIGHTNESS_WEIGHT)
        return distances.argmin(axis=1)


def dominant_colours(image: Image.Image, k: int = 3, palette: Palette | None = None) -> list[dict]:
    """Up to `k` colours of the garment, best first: `[{"name", "hex", "share"}]`.

    `name` comes from the palette (the taxonomy's colour vocabulary by default), `hex` is the garment's own
    average colour for that name, and `share` is the fraction of the garment's pixels; shares sum to 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    palette = palette or default_palette()
    lab = srgb_to_lab(_downscaled(image))
    pixels = lab[garment_mask(lab)]
    centres, counts = _kmeans(pixels, min(k, len(pixels)))
    names = palette.nearest(centres)
    colours = []
    for index in np.unique(names):
        members = names == index
        weight = counts[members].sum()
        mean_lab = (centres[members] * counts[members, None]).sum(axis=0) / weight
        colours.append({"name": palette.names[index], "hex": rgb_to_hex(lab_to_srgb(mean_lab)), "share": weight})
    total = float(counts.sum())
    colours.sort(key=lambda colour: colour["share"], reverse=True)
    return [{**colour, "share": round(float(colour["share"]) / total, 4)} for colour in colours]


def garment_mask(lab: np.ndarray) -> np.ndarray:
    """Boolean [H, W]: pixels unlike the border's background and connected to the centre of the frame."""
    height, width, _ = lab.shape
    centres, thresholds = _background_model(lab)
    distances = _background_distance(lab[:, :, None, :], centres[None, None, :, :])
    foreground = np.all(distances > thresholds, axis=2)
    foreground = _open(foreground)
    connected = _connected_to_centre(foreground)
    # Pixels on the garment's outline are half background after downscaling: read the colour inside it.
    inner = ~_dilate(~connected)
    if inner.sum() >= MIN_GARMENT_SHARE * height * width:
        return inner
    if connected.sum() < MIN_GARMENT_SHARE * height * width:
        # Nothing stands out from the background (a white shirt on white): the garment is the centre itself.
        connected = np.zeros_like(foreground)
        connected[height // 4 : height - height // 4, width // 4 : width - width // 4] = True
    return connected


def _background_model(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Lab centres [n, 3], distance thresholds [n]) of the background, from the border ring.

    A colour is background when it shows all around the ring; a garment (or a model's head and feet) touches
    the edge in a few places only. The ring's most common colour is background in any case.
    """
    pixels, segments = _border_pixels(lab)
    centres, _ = _kmeans(pixels, BORDER_CLUSTERS)
    owner = _background_distance(pixels[:, None, :], centres[None, :, :]).argmin(axis=1)
    present = np.zeros((len(centres), BORDER_SEGMENTS), dtype=bool)
    for segment in range(BORDER_SEGMENTS):
        in_segment = owner[segments == segment]
        if len(in_segment):
            shares = np.bincount(in_segment, minlength=len(centres)) / len(in_segment)
            present[:, segment] = shares >= MIN_SEGMENT_SHARE
    counts = np.bincount(owner, minlength=len(centres))
    background = present.sum(axis=1) >= MIN_BACKGROUND_SEGMENTS * BORDER_SEGMENTS
    background[counts.argmax()] = True
    thresholds = []
    for i in np.flatnonzero(background):
        spread = _background_distance(pixels[owner == i], centres[i])
        thresholds.append(np.clip(SPREAD_FACTOR * np.percentile(spread, 90), MIN_BACKGROUND_DISTANCE, MAX_BACKGROUND_DISTANCE))
    return centres[background], np.array(thresholds)


def _background_distance(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """ΔE with lightness at half weight: a soft shadow on the background is still background."""
    difference = lab1 - lab2
    return np.sqrt((difference[..., 0] / LIGHTNESS_WEIGHT) ** 2 + difference[..., 1] ** 2 + difference[..., 2] ** 2)


def _downscaled(image: Image.Image) -> np.ndarray:
    image = image.convert("RGB")
    scale = WORK_SIDE / max(image.size)
    if scale < 1:
        # reduce() by an integer factor first is much faster than resampling a phone photo in one step.
        factor = int(1 / scale)
        if factor >= 2:
            image = image.reduce(factor)
        size = (max(1, round(image.width * WORK_SIDE / max(image.size))), max(1, round(image.height * WORK_SIDE / max(image.size))))
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64) / 255.0


def _border_pixels(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring's pixels [N, 3] and, for each, which of `BORDER_SEGMENTS` angular segments around the centre it is in."""
    height, width, _ = lab.shape
    ring = max(1, round(min(height, width) * BORDER_FRACTION))
    mask = np.zeros((height, width), dtype=bool)
    mask[:ring, :] = mask[-ring:, :] = mask[:, :ring] = mask[:, -ring:] = True
    rows, columns = np.nonzero(mask)
    angles = np.arctan2(rows - (height - 1) / 2, columns - (width - 1) / 2)
    segments = ((angles + np.pi) / (2 * np.pi) * BORDER_SEGMENTS).astype(int) % BORDER_SEGMENTS
    return lab[rows, columns], segments


def _open(mask: np.ndarray) -> np.ndarray:
    """Erode then dilate with a 3×3 cross: drops isolated specks of carpet texture, keeps garment shapes."""
    return _dilate(~_dilate(~mask))


def _dilate(mask: np.ndarray) -> np.ndarray:
    grown = mask.copy()
    grown[1:, :] |= mask[:-1, :]
    grown[:-1, :] |= mask[1:, :]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def _connected_to_centre(mask: np.ndarray) -> np.ndarray:
    """The parts of `mask` reachable inside it from its pixels in the central half of the frame."""
    height, width = mask.shape
    seed = np.zeros_like(mask)
    seed[height // 4 : height - height // 4, width // 4 : width - width // 4] = True
    region = mask & seed
    if not region.any():
        return mask
    while True:
        grown = _dilate(region) & mask
        if np.array_equal(grown, region):
            return region
        region = grown


def _kmeans(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres [k', 3], member counts [k']) of `points`; empty clusters are dropped. Deterministic."""
    if len(points) == 0:
        raise ValueError("no pixels to cluster")
    # Farthest-point initialisation from the median: deterministic, and it does not start two centres in one blob.
    centres = [np.median(points, axis=0)]
    nearest = np.linalg.norm(points - centres[0], axis=1)
    for _ in range(1, k):
        centres.append(points[nearest.argmax()])
        nearest = np.minimum(nearest, np.linalg.norm(points - centres[-1], axis=1))
    centres_array = np.array(centres)
    for _ in range(KMEANS_ITERATIONS):
        labels = np.linalg.norm(points[:, None, :] - centres_array[None, :, :], axis=2).argmin(axis=1)
        for i in range(len(centres_array)):
            members = points[labels == i]
            if len(members):
                centres_array[i] = members.mean(axis=0)
    labels = np.linalg.norm(points[:, None, :] - centres_array[None, :, :], axis=2).argmin(axis=1)
    counts = np.bincount(labels, minlength=len(centres_array))
    return centres_array[counts > 0], counts[counts > 0]


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (any shape [..., 3]) → CIELAB under D65."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB under D65 → sRGB in [0, 1], clipped to the gamut."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _D65
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray, k_l: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference between broadcastable Lab arrays [..., 3] (Sharma, Wu & Dalal 2005)."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dh_big = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, c_bar_p = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -2 * np.sqrt(c_bar_p**7 / (c_bar_p**7 + 25.0**7)) * np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2))))
    return np.sqrt(
        (dl / (k_l * s_l)) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h)
    )


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    text = value.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(f"a colour must be written #RRGGBB, got {value!r}")
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        raise ValueError(f"a colour must be written #RRGGBB, got {value!r}") from None


def rgb_to_hex(rgb: np.ndarray) -> str:
    red, green, blue = (int(round(float(channel) * 255)) for channel in rgb)
    return f"#{red:02X}{green:02X}{blue:02X}"


def default_palette() -> Palette:
    """The taxonomy's colour vocabulary (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        from handlers.taxonomy import load_taxonomy  # the taxonomy is data; this module stays importable alone

        _DEFAULT = Palette.from_pairs([(c.name, c.hex) for c in load_taxonomy().colours])
    return _DEFAULT


_DEFAULT: Palette | None = None
