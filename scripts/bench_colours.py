"""Time the colour function per image, as the attributes handler calls it, on real photos of both data sets.

    python -m scripts.bench_colours [--images 100]

Prints milliseconds per image for the full function with the fitted prototypes, beside the same function with
the taxonomy's reference colours only and the garment mask alone, all in this process on the same decoded
images. Wall time (median, 90th percentile) is what a request waits; CPU time (median) is the work itself,
which a machine shared with other jobs inflates far less, and the ratios hold on a busy machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from PIL import Image

from handlers.colours import default_palette, dominant_colours, garment_pixels, load_palette
from handlers.decoding import decode_image
from handlers.models import INPUT_SIZE
from kalas.dataset import read_records, shared_data


def timings(images: list[Image.Image], work: Callable[[Image.Image], object], rounds: int = 3) -> tuple[list, list]:
    """(wall, CPU) milliseconds per image, each the best of `rounds` runs (the least disturbed by other processes)."""
    wall, cpu = [], []
    for image in images:
        runs = []
        for _ in range(rounds):
            start, start_cpu = time.perf_counter(), time.process_time()
            work(image)
            runs.append(((time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000))
        wall.append(min(run[0] for run in runs))
        cpu.append(min(run[1] for run in runs))
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="photos per data set")
    parser.add_argument("--data", type=Path, default=shared_data())
    args = parser.parse_args(argv)
    fitted, references = default_palette(), load_palette(None)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'data set':<18}{'variant':<28}{'wall p50':>10}{'wall p90':>10}{'CPU p50':>10}{'ratio':>8}")
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
            wall, cpu = timings(images, work)
            median, cpu_median = statistics.median(wall), statistics.median(cpu)
            baseline = baseline or cpu_median
            p90 = statistics.quantiles(wall, n=10)[-1]
            print(f"{name:<18}{variant:<28}{median:>10.2f}{p90:>10.2f}{cpu_median:>10.2f}{cpu_median / baseline:>8.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f} (ratio: CPU time against the full function)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
