"""Time the colour function per image, as the attributes handler calls it, on real photos of both data sets.

    python -m scripts.bench_colours [--images 100]

Prints milliseconds per image (median and 90th percentile) for the full function with the fitted prototypes,
beside the same function with the taxonomy's reference colours only and the garment mask alone, all in this
process on the same decoded images, so the ratios hold on a busy machine even when the absolute times do not.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from PIL import Image

from handlers.colours import default_palette, dominant_colours, garment_pixels, load_palette
from handlers.images import decode_image
from handlers.models import INPUT_SIZE
from scripts.dataset import read_records

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def timings(images: list[Image.Image], work: Callable[[Image.Image], object], rounds: int = 3) -> list[float]:
    """The best of `rounds` runs per image, in milliseconds (the least disturbed by other processes)."""
    best = []
    for image in images:
        runs = []
        for _ in range(rounds):
            start = time.perf_counter()
            work(image)
            runs.append((time.perf_counter() - start) * 1000)
        best.append(min(runs))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="photos per data set")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    fitted, references = default_palette(), load_palette(None)
    print(f"{'data set':<18}{'variant':<28}{'median ms':>10}{'p90 ms':>10}{'ratio':>8}")
    for name in ("fashion-products", "clothing"):
        # Decoded as the handler decodes (a phone photo is drafted down to about the model's input size).
        images = [decode_image(r.image.read_bytes(), min_side=INPUT_SIZE)
                  for r in read_records(args.data / name)[: args.images]]
        variants = {
            "full (fitted prototypes)": lambda image: dominant_colours(image, palette=fitted),
            "reference colours only": lambda image: dominant_colours(image, palette=references),
            "garment mask only": garment_pixels,
        }
        baseline = None
        for variant, work in variants.items():
            times = timings(images, work)
            median = statistics.median(times)
            baseline = baseline or median
            p90 = statistics.quantiles(times, n=10)[-1]
            print(f"{name:<18}{variant:<28}{median:>10.2f}{p90:>10.2f}{median / baseline:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
