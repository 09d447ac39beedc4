"""Each backbone option's served graph on this machine: forward-pass latency for one photo and for a batch of 8.

    python -m scripts.bench_backbones [--rounds 40] [--threads 2] [--json PATH]

The options issue 23 weighs for a stronger model: EfficientNet-Lite0 at 224 px (the shipped model), Lite0 at 260 px,
Lite2 at 260 px (handlers/models/efficientnet_lite.py `BACKBONES`). Each is a FashionModel with the shipped
checkpoint's heads (its categories, attribute groups, colours, embedding; their values are fresh, which does not
change the time), frozen as the handlers serve it by default (handlers/frozen_model.py, float32; bfloat16's check
against float32 needs trained heads, whose scores are not all near zero). The graphs take
turns call by call (scripts/bench_precision.py `interleaved_ms`), so load from other processes falls on all alike;
medians are printed with each one's ratio to Lite0 at 224 px measured in the same run. The model's forward pass is
most of TorchServe's single-photo time (docs/benchmarks.md, "Serving"): these ratios say what a backbone leaves of
the ≤ 40 ms p50 target before a checkpoint of it is trained.
"""
from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

from handlers.openmp_pool import bound_openmp_spinning

# (label, backbone, input size)
OPTIONS = (("lite0-224", "efficientnet-lite0", 224), ("lite0-260", "efficientnet-lite0", 260),
           ("lite2-260", "efficientnet-lite2", 260))
BASELINE = "lite0-224/fp32"


def served_graphs(meta: dict) -> dict:
    """{"<option>/fp32": (frozen graph, input size)} for every option."""
    import torch

    from handlers.frozen_model import FrozenModel
    from handlers.models.fashion import build_from_meta

    graphs = {}
    for label, backbone, size in OPTIONS:
        torch.manual_seed(0)
        model = build_from_meta(meta, backbone=backbone, input_size=size, tune_from=None)
        model = model.eval().to(memory_format=torch.channels_last)
        graphs[f"{label}/fp32"] = (FrozenModel(model, size), size)
    return graphs


def main(argv: list[str] | None = None) -> dict:
    bound_openmp_spinning()
    import torch

    from handlers.archive import DEFAULT_CHECKPOINT
    from handlers.models.fashion import META_FILE
    from kalas.bench import report_json
    from scripts.bench_precision import interleaved_ms, training_photos

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="whose heads' shapes to use")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # torch.jit's deprecation warnings
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    figures: dict = {"load_before": [round(x, 2) for x in os.getloadavg()], "threads": args.threads,
                     "latency_ms": {}, "ratio_to_lite0_224_fp32": {}}
    graphs = served_graphs(json.loads((args.checkpoint / META_FILE).read_text()))
    sizes = {size for _, size in graphs.values()}
    for batch, seed in ((1, 5), (8, 5)):
        photos = {size: training_photos(max(batch, 2), seed, size)[:batch] for size in sizes}
        calls = {name: (lambda graph=graph, size=size: graph(photos[size])) for name, (graph, size) in graphs.items()}
        medians = interleaved_ms(calls, args.rounds)
        figures["latency_ms"][f"batch_{batch}"] = medians
        figures["ratio_to_lite0_224_fp32"][f"batch_{batch}"] = {
            name: round(ms / medians[BASELINE], 2) for name, ms in medians.items()}
    return report_json(figures, args.json)


if __name__ == "__main__":
    main()
