"""The served graph in float32, bfloat16 and int8: forward-pass latency and how far each strays from float32.

    python -m scripts.bench_precision [--checkpoint checkpoints/fashion] [--rounds 40] [--json PATH]

float32 and bfloat16 are the graphs the handlers serve (handlers/frozen_model.py, the archive setting `precision`);
int8 is measured only, never served: FX graph mode post-training static quantisation (torch.ao, the oneDNN
backend's default qconfig: per-channel weights, histogram-calibrated 8-bit activations) calibrated on
`--calibration` training photos (half of each data set), with the parts that lost most to it left in float32
(the stem, blocks 0-2, the heads), then traced and frozen like the others. The graphs take turns call by call, so
load from other processes falls on all alike; medians are printed for one photo and a batch of 8, then, on photos of
the training split the calibration did not use, each head's top-answer agreement with float32 and the lowest cosine.
Accuracy on the validation sets is scripts/evaluate.py's (`--precision`); docs/model_card.md, "Served precision".
"""
from __future__ import annotations

import argparse
import copy
import os
import random
import time
import warnings
from pathlib import Path
from typing import Callable

from handlers.openmp_pool import bound_openmp_spinning

FLOAT_PARTS = ("heads", "backbone._conv_stem", "backbone._blocks.0", "backbone._blocks.1", "backbone._blocks.2")


def training_photos(count: int, seed: int, size: int):
    """`count` photos of the training split, half of each data set, as the handlers' input tensor."""
    import torch

    from handlers.decoding import decode_image
    from handlers.images import to_tensor
    from handlers.models import MEAN, STD
    from kalas.dataset import read_records, shared_data, split

    records = []
    for name in ("fashion-products", "clothing"):
        train, _ = split(read_records(shared_data() / name))
        records += random.Random(seed).sample(train, count // 2)
    images = [decode_image(r.image.read_bytes(), min_side=size) for r in records]
    return to_tensor(images, size, MEAN, STD, memory_format=torch.channels_last)


def int8_graph(model, calibration, size: int):
    """The model quantised to int8 (FLOAT_PARTS kept in float32), calibrated on `calibration`, traced and frozen."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from handlers.frozen_model import FrozenModel, _Flat, _example, _leaves

    torch.backends.quantized.engine = "onednn"
    mapping = get_default_qconfig_mapping("onednn")
    for name in FLOAT_PARTS:
        mapping = mapping.set_module_name(name, None)
    prepared = prepare_fx(copy.deepcopy(model), mapping, (calibration[:2],))
    for start in range(0, len(calibration), 16):
        prepared(calibration[start : start + 16])
    quantised = convert_fx(prepared)
    graph = FrozenModel.__new__(FrozenModel)
    torch.nn.Module.__init__(graph)
    graph.precision, graph.paths = "int8", [path for path, _ in _leaves(model(_example(2, size)))]
    graph.graph = torch.jit.freeze(torch.jit.trace(_Flat(quantised), _example(2, size)).eval())
    return graph


def interleaved_ms(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """The median milliseconds of each call (a graph on its input), the calls taking turns, the order reversed every
    other round, after three warm-up runs each."""
    for call in calls.values():
        for _ in range(3):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(rounds):
        for name, call in (list(calls.items()) if r % 2 == 0 else list(calls.items())[::-1]):
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: round(sorted(t)[len(t) // 2], 2) for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict:
    bound_openmp_spinning()
    import torch
    import torch.nn.functional as F

    from handlers.archive import DEFAULT_CHECKPOINT
    from handlers.frozen_model import FrozenModel, _leaves
    from handlers.models import INPUT_SIZE
    from handlers.models.fashion import load_fashion_model
    from kalas.bench import report_json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calibration", type=int, default=128, help="training photos the int8 graph is calibrated on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # torch.jit's deprecation, torch.ao's
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model = load_fashion_model(args.checkpoint)[0].eval().to(memory_format=torch.channels_last)
    graphs = {"fp32": FrozenModel(model, INPUT_SIZE), "bf16": FrozenModel(model, INPUT_SIZE, "bf16"),
              "int8": int8_graph(model, training_photos(args.calibration, 0, INPUT_SIZE), INPUT_SIZE)}
    figures: dict = {"load_before": [round(x, 2) for x in os.getloadavg()], "latency_ms": {}}
    for batch in (1, 8):
        images = training_photos(2, 5, INPUT_SIZE)[:1] if batch == 1 else training_photos(8, 5, INPUT_SIZE)
        calls = {name: (lambda graph=graph: graph(images)) for name, graph in graphs.items()}
        figures["latency_ms"][f"batch_{batch}"] = interleaved_ms(calls, args.rounds)
    held_out = training_photos(96, 7, INPUT_SIZE)
    reference = _leaves(graphs["fp32"](held_out))
    figures["against_fp32"] = {}
    for name in ("bf16", "int8"):
        rows = {}
        for (path, want), (_, got) in zip(reference, _leaves(graphs[name](held_out))):
            cosine = F.cosine_similarity(want.flatten(1), got.float().flatten(1))
            rows["/".join(path)] = {"min_cosine": round(cosine.min().item(), 4)}
            if path[0] not in ("embedding", "semantic"):  # a head's scores: does its top answer stay?
                rows["/".join(path)]["top_agreement"] = round((want.argmax(1) == got.argmax(1)).float().mean().item(), 3)
        figures["against_fp32"][name] = rows
    return report_json(figures, args.json)


if __name__ == "__main__":
    main()
