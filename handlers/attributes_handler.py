"""TorchServe handler of `fashion-attributes`: category, attributes and the garment's dominant colours.

Per image it answers (docs/architecture.md, "Annotation"):
- `category`: the `top_k` most probable categories (softmax over the category head), best first;
- `attributes`: per attribute group, the values whose softmax probability within the group is at least
  `attribute_threshold`, best first, at most `top_k`. An MMFashion model has one multi-label head instead:
  each attribute scores its own sigmoid, and those at least `attribute_threshold` are listed under `attributes`
  (and `category` is empty when the checkpoint has no category predictor);
- `colours`: up to `colours` dominant colours of the garment's own pixels (handlers/colours.py).
`top_k`, `attribute_threshold`, `colours` and the label file come from the archive's model config.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from handlers.base_handler import ImageBatchHandler
from handlers.colours import dominant_colours


class AttributesHandler(ImageBatchHandler):
    def initialize(self, context: Any) -> None:
        super().initialize(context)
        model_dir = Path(context.system_properties["model_dir"])
        self.labels = json.loads((model_dir / self.settings["labels"]).read_text(encoding="utf-8"))
        self.top_k = int(self.settings.get("top_k", 3))
        self.threshold = float(self.settings.get("attribute_threshold", 0.5))
        self.colours_k = int(self.settings.get("colours", 3))

    def answer(self, outputs: dict, row: int, image: Image.Image) -> dict:
        attributes = outputs["attributes"]
        if isinstance(attributes, torch.Tensor):  # MMFashion: one multi-label head
            groups = {"attributes": _ranked(attributes[row].sigmoid(), self.labels["attributes"], self.threshold, None)}
        else:
            groups = {
                group: _ranked(logits[row].softmax(-1), self.labels["attributes"][group], self.threshold, self.top_k)
                for group, logits in attributes.items()
            }
        category = outputs.get("category")  # an MMFashion attribute model may have no category head
        return {
            "category": [] if category is None else _ranked(category[row].softmax(-1), self.labels["category"], 0.0, self.top_k),
            "attributes": groups,
            "colours": dominant_colours(image, self.colours_k),
            "model": self.identity,
        }


def _ranked(scores: torch.Tensor, labels: list[dict], threshold: float, top_k: int | None) -> list[dict]:
    """Labels scoring at least `threshold`, best first, at most `top_k` of them."""
    values = scores.tolist()  # Python floats: indexing a tensor per label cost more than the softmax
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
    kept = [i for i in order if values[i] >= threshold][:top_k]
    return [{"label": labels[i]["label"], "name": labels[i]["name"], "score": round(values[i], 6)} for i in kept]
