"""TorchServe handler of `fashion-attributes`: category, attributes and the garment's dominant colours.

Per image it answers (docs/architecture.md, "Annotation"):
- `category`: the `top_k` most probable categories (softmax over the category head), best first;
- `groups`: the taxonomy's groups above the best category, nearest first, each scored with the probability of
  all its categories together: when the leaf is unsure its group may be sure ("Footwear" when it is unclear which
  shoe);
- `attributes`: per attribute group, the values whose softmax probability within the group is at least
  `attribute_threshold`, best first, at most `top_k`. An MMFashion model has one multi-label head instead:
  each attribute scores its own sigmoid, and those at least `attribute_threshold` are listed under `attributes`
  (and `category` is empty when the checkpoint has no category predictor);
- `policy`: per target precision, the scores at or above which a category, a group, a department or an attribute
  value is sure enough to apply (what a shop's tagging policy reads), fitted for the photo's kind (a studio shot or
  an everyday photo, handlers/images.py `photo_kind`), whose scores are also read with that kind's temperatures;
- `colours`: up to `colours` dominant colours of the garment's own pixels (handlers/colours.py); when the model
  has a colour head, its log-probabilities join the learned namer's in naming the first;
- `embedding` and `signals`: the photo's retrieval embedding and the heads' uncalibrated probabilities
  (handlers/signals.py; none from an MMFashion model), as `fashion-embedder` answers them, which a shop's own model
  reads (api/domain/shop_models.py) without a second call; the API keeps both out of what it answers.
`top_k`, `attribute_threshold`, `colours`, the label file and the heads' calibration (`calibration`, fitted on
validation photos by scripts/calibrate.py: every score is softmax(logits / T), the category's top then read on
its top curve (handlers/calibration.py), a probability that means what it says) come from the archive's model config.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from handlers.base_handler import ImageBatchHandler
from handlers.calibration import Calibration
from handlers.category_groups import category_groups
from handlers.colours import dominant_colours
from handlers.images import photo_kind


class AttributesHandler(ImageBatchHandler):
    def setup(self, model_dir: Path) -> None:
        self.labels = json.loads((model_dir / self.settings["labels"]).read_text(encoding="utf-8"))
        self.top_k = int(self.settings.get("top_k", 3))
        self.threshold = float(self.settings.get("attribute_threshold", 0.5))
        self.colours_k = int(self.settings.get("colours", 3))
        self.colour_order = _colour_order(self.labels.get("colours"))
        calibration = self.settings.get("calibration") or {}
        # Per kind of photo (handlers/images.py `photo_kind`), or for every photo when the calibration has no kinds:
        # the heads' temperatures, and per target precision ("0.97") the lowest calibrated score at which a
        # category, a group or an attribute value may be applied (scripts/calibrate.py), what a shop's tagging
        # policy reads. Empty when uncalibrated.
        self.calibrations = {kind: Calibration.of(fitted) for kind, fitted in calibration.get("photo_kinds", {}).items()}
        self.calibration = Calibration.of(calibration)
        self.groups = category_groups(self.labels["category"]) if self.labels.get("category") else []

    def answer(self, outputs: dict, row: int, image: Image.Image) -> dict:
        calibration = self.calibrations.get(photo_kind(image), self.calibration) if self.calibrations else self.calibration
        attributes = outputs["attributes"]
        if isinstance(attributes, torch.Tensor):  # MMFashion: one multi-label head
            values = {"attributes": _ranked(attributes[row].sigmoid(), self.labels["attributes"], self.threshold, None)}
        else:
            values = {
                group: _ranked(calibration.probabilities(f"attributes.{group}", logits[row]),
                               self.labels["attributes"][group], self.threshold, self.top_k)
                for group, logits in attributes.items()
            }
        category = outputs.get("category")  # an MMFashion attribute model may have no category head
        probabilities = None if category is None else calibration.probabilities("category", category[row])
        answer = {
            "category": [] if category is None else _ranked(probabilities, self.labels["category"], 0.0, self.top_k),
            "groups": [] if category is None else self._groups_of_best(probabilities),
            "attributes": values,
            "colours": dominant_colours(image, self.colours_k, prior=self._colour_prior(outputs, row, calibration)),
            "model": self.identity,
            "policy": calibration.policy,
        }
        if "embedding" in outputs:
            answer["embedding"] = F.normalize(outputs["embedding"][row].float(), dim=0).tolist()
        return answer

    def _groups_of_best(self, probabilities: torch.Tensor) -> list[dict]:
        best = int(probabilities.argmax())
        scores = probabilities.numpy()
        return [{"label": group.label, "name": group.name, "score": round(float(scores[group.members].sum()), 6)}
                for group in self.groups if best in group.members_set]

    def _colour_prior(self, outputs: dict, row: int, calibration: Calibration) -> np.ndarray | None:
        """The colour head's log-probabilities in the taxonomy's vocabulary order, or None without one."""
        if self.colour_order is None or "colour" not in outputs:
            return None
        return (outputs["colour"][row] / calibration.temperature("colour")).log_softmax(-1).numpy()[self.colour_order]


def _colour_order(colours: list[dict] | None) -> np.ndarray | None:
    """For each of the taxonomy's colour names, its row in the model's colour head (None: no colour head)."""
    if colours is None:
        return None
    from handlers.taxonomy import load_taxonomy

    vocabulary = [c.name for c in load_taxonomy().colours]
    rows = {c["name"]: i for i, c in enumerate(colours)}
    if sorted(rows) != sorted(vocabulary):
        raise ValueError(
            f"the model's colour head names {sorted(rows)}, the taxonomy's colour vocabulary is {sorted(vocabulary)}: "
            "retrain the model (scripts/train.py) after changing the vocabulary"
        )
    return np.array([rows[name] for name in vocabulary])


def _ranked(scores: torch.Tensor, labels: list[dict], threshold: float, top_k: int | None) -> list[dict]:
    """Labels scoring at least `threshold`, best first, at most `top_k` of them."""
    values = scores.tolist()  # Python floats: indexing a tensor per label cost more than the softmax
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
    kept = [i for i in order if values[i] >= threshold][:top_k]
    return [{"label": labels[i]["label"], "name": labels[i]["name"], "score": round(values[i], 6)} for i in kept]
