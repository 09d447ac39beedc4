"""The garment's dominant colours, read from its own pixels, named from the taxonomy's colour vocabulary.

Why pixels and not the backbone alone: ImageNet features named colours right about half the time here (a
fine-tuned colour head 68%), and the garment's colour is plainly in the image; the head's opinion joins the
pixels' only in naming the first colour (`prior`). Why not the whole frame: consumer photos lie on beds and carpets,
and shop photos show models, so the frame's most common colour is often not the garment's (handlers/garment_mask.py).

Per image, on a copy downscaled to `WORK_SIDE` pixels (a request costs a few milliseconds): convert to CIELAB,
keep the garment's pixels, cluster them with k-means, name each cluster by its nearest prototype under CIEDE2000
with the textile industry's lightness weight (kL = 2: folds and shadows change lightness more than hue), and
merge clusters that get the same name. With the default palette, the dominant colour is then renamed by a
learned namer over the whole garment's pixels (handlers/colour_classifier.py) when its weights are committed.

Prototypes: each vocabulary colour's reference hex from the taxonomy, plus garment colours from labelled
photos (`colour_prototypes.json`, written by scripts/fit_colour_names.py), with a colour named by the majority
of its nearest prototypes: what shops call "Blue" includes faded denim, which no single reference hex is near,
and the vote keeps rare names (Teal, Gold) from claiming colours by having a prototype nearby. Every prototype
carries a vocabulary name, so names stay the taxonomy's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from handlers.colour_classifier import ColourClassifier, default_classifier, describe
from handlers.colour_space import (
    ciede2000, hex_to_rgb, kmeans, lab_to_srgb, nearest_centre, rgb_to_hex, squared_distances, srgb_to_lab,
)
from handlers.garment_mask import garment_mask

WORK_SIDE = 64
# Clusters found before naming (at least k): more than asked for keep hair, prints and a second garment apart.
MIN_CLUSTERS = 6
# Shares weigh pixels by a Gaussian around the frame's centre (sigma as a fraction of the frame): what a photo
# is taken of sits in the middle; the jeans under a shirt on a model, the belt, the hair sit further out.
CENTRE_SIGMA = 0.25
LIGHTNESS_WEIGHT = 2.0
# Prototypes nearest in plain ΔE that CIEDE2000 then ranks; several times `votes`, so the vote is unchanged.
SHORTLIST = 64
# k-means runs on at most this many of the garment's pixels (an even stride); every pixel is then counted.
CLUSTER_SAMPLE = 1024
PROTOTYPES_PATH = Path(__file__).with_name("colour_prototypes.json")


@dataclass(frozen=True)
class Palette:
    """Named prototype colours in CIELAB; a name may have several prototypes."""

    names: tuple[str, ...]
    lab: np.ndarray
    votes: int = 1  # a colour's name is the majority name of its `votes` nearest prototypes

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, str]]) -> "Palette":
        """From (name, "#RRGGBB") pairs."""
        if not pairs:
            raise ValueError("a colour palette needs at least one (name, hex) pair")
        rgb = np.array([hex_to_rgb(value) for _, value in pairs], dtype=np.float64) / 255.0
        return cls(names=tuple(name for name, _ in pairs), lab=srgb_to_lab(rgb))

    def plus(self, names: Sequence[str], lab: np.ndarray, votes: int) -> "Palette":
        lab = np.concatenate([self.lab, np.asarray(lab, dtype=np.float64)])
        return Palette(names=self.names + tuple(names), lab=lab, votes=votes)

    def nearest(self, lab: np.ndarray) -> list[str]:
        """The name for each Lab row of `lab` [N, 3]: the majority of its `votes` nearest prototypes (first on ties)."""
        candidates = np.arange(len(self.names))[None, :].repeat(len(lab), axis=0)
        if len(self.names) > SHORTLIST:
            # CIEDE2000 against thousands of prototypes is the costliest step; plain ΔE picks a shortlist first.
            candidates = np.argpartition(squared_distances(lab, self.lab), SHORTLIST, axis=1)[:, :SHORTLIST]
        distances = ciede2000(lab[:, None, :], self.lab[candidates], k_l=LIGHTNESS_WEIGHT)
        names = []
        for row, order in zip(candidates, np.argsort(distances, axis=1)[:, : self.votes]):
            tally: dict[str, int] = {}
            for index in row[order]:
                tally[self.names[index]] = tally.get(self.names[index], 0) + 1
            names.append(max(tally, key=tally.get))  # dicts keep order: ties go to the nearest
        return names


def dominant_colours(
    image: Image.Image,
    k: int = 3,
    palette: Palette | None = None,
    classifier: ColourClassifier | None = None,
    prior: np.ndarray | None = None,
) -> list[dict]:
    """Up to `k` colours of the garment, best first: `[{"name", "hex", "share"}]`.

    `name` is from the palette (the taxonomy's colour vocabulary by default); `hex` is the garment's own
    average colour under that name; `share` is that name's fraction of the garment's pixels (weighted towards
    the centre of the frame), so shares sum to 1 unless the garment has more than `k` named colours.
    With the default palette, the first colour is renamed by the learned classifier (handlers/colour_classifier.py)
    when one is committed, or by `classifier` when given; its hex and share stay the clusters'. `prior`, the
    model's colour log-probabilities over the taxonomy's vocabulary, joins the classifier's (`ColourClassifier.name`).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if palette is None:
        palette, classifier = default_palette(), classifier or default_classifier()
    lab, mask, weights, centres, counts, names = named_clusters(image, k, palette)
    colours = []
    for name in set(names.tolist()):
        members = names == name
        weight = float(counts[members].sum())
        mean_lab = (centres[members] * counts[members, None]).sum(axis=0) / weight
        colours.append({"name": name, "hex": rgb_to_hex(lab_to_srgb(mean_lab)), "share": weight / counts.sum()})
    colours.sort(key=lambda colour: (-colour["share"], colour["name"]))
    if classifier is not None:
        first = classifier.name(describe(lab, mask, weights, centres, counts, names, classifier.vocabulary), prior)
        # The other colours keep their names; one that now repeats the first's name is dropped, not listed twice.
        colours = [{**colours[0], "name": first}] + [c for c in colours[1:] if c["name"] != first]
    return [{**colour, "share": round(float(colour["share"]), 4)} for colour in colours[:k]]


def named_clusters(
    image: Image.Image, k: int, palette: Palette
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Lab frame [H, W, 3], garment mask [H, W], the garment pixels' centre weights [N], cluster centres [C, 3],
    weighted cluster sizes [C], cluster names [C]); the garment's pixels are `frame[mask]`, in that order."""
    lab, mask = garment_view(image)
    pixels, weights = lab[mask], centre_weights(mask)
    centres, _ = kmeans(pixels[:: max(1, len(pixels) // CLUSTER_SAMPLE)], max(k, MIN_CLUSTERS))
    owner = nearest_centre(pixels, centres)
    counts = np.bincount(owner, weights=weights, minlength=len(centres))
    return lab, mask, weights, centres, counts, np.array(palette.nearest(centres))


def garment_pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The garment's pixels in CIELAB [N, 3] and their centre weights [N], from a copy at most `WORK_SIDE` long."""
    lab, mask = garment_view(image)
    return lab[mask], centre_weights(mask)


def garment_view(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(the downscaled frame in CIELAB [H, W, 3], the garment's mask [H, W])."""
    lab = srgb_to_lab(downscale(image))
    return lab, garment_mask(lab)


def centre_weights(mask: np.ndarray) -> np.ndarray:
    """A Gaussian weight around the frame's centre for each pixel of `mask`, in `np.nonzero` order."""
    height, width = mask.shape
    rows, columns = np.nonzero(mask)
    offsets = ((rows + 0.5) / height - 0.5) ** 2 + ((columns + 0.5) / width - 0.5) ** 2
    return np.exp(-offsets / (2 * CENTRE_SIGMA**2))


def downscale(image: Image.Image) -> np.ndarray:
    """sRGB in [0, 1] as [H, W, 3], the longer side at most `WORK_SIDE`."""
    if image.mode != "RGB":  # convert() copies even an RGB image: the whole decoded photo, for nothing
        image = image.convert("RGB")
    longest = max(image.size)
    if longest > WORK_SIDE:
        # reduce() by an integer factor first is much faster than resampling a phone photo in one step.
        if longest >= 2 * WORK_SIDE:
            image = image.reduce(longest // WORK_SIDE)
        scale = WORK_SIDE / max(image.size)
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BOX
        )
    return np.asarray(image, dtype=np.float64) / 255.0


@lru_cache(maxsize=1)
def default_palette() -> Palette:
    """The taxonomy's colour vocabulary with the fitted prototypes (loaded once per process)."""
    return load_palette(PROTOTYPES_PATH)


def load_palette(prototypes_path: Path | None) -> Palette:
    """The taxonomy's reference colours, plus the prototypes in `prototypes_path` when it exists."""
    from handlers.taxonomy import load_taxonomy  # imported late: the colour functions work without the YAML

    vocabulary = load_taxonomy().colours
    palette = Palette.from_pairs([(colour.name, colour.hex) for colour in vocabulary])
    if prototypes_path is None or not prototypes_path.is_file():
        return palette
    names_by_label = {colour.label: colour.name for colour in vocabulary}
    fitted = json.loads(prototypes_path.read_text(encoding="utf-8"))
    unknown = sorted(set(fitted["labels"]) - names_by_label.keys())
    if unknown:
        raise ValueError(
            f"{prototypes_path.name} names colours the taxonomy does not have: {unknown}; "
            "refit it with scripts/fit_colour_names.py after changing the vocabulary"
        )
    return palette.plus([names_by_label[label] for label in fitted["labels"]], np.array(fitted["lab"]), fitted["votes"])
