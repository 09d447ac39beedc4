"""One fit of scripts/calibrate.py as the attributes handler applies it: a temperature per head (every score is
softmax(logits / T)), for the category a scaling of its top score, and the policy table. Apart from the handler
because a TorchServe handler file may hold one class only."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Calibration:
    """One fit of scripts/calibrate.py: a temperature per head, (slope, bias) of the top scaling of the heads that
    have one (`category`), and the policy table."""

    temperatures: dict[str, float]
    policy: dict
    top: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, fitted: dict) -> "Calibration":
        given = fitted.get("temperatures", {})
        temperatures = {head: float(given[head]) for head in ("category", "colour") if head in given}
        temperatures.update({f"attributes.{group}": float(t) for group, t in given.get("attributes", {}).items()})
        top = {head: (float(slope), float(bias)) for head, (slope, bias) in fitted.get("top", {}).items()}
        return cls(temperatures, fitted.get("policy", {}), top)

    def temperature(self, head: str) -> float:
        return self.temperatures.get(head, 1.0)

    def probabilities(self, head: str, logits: torch.Tensor) -> torch.Tensor:
        """softmax(logits / T) over the last dimension; with a top scaling, the top probability p then becomes
        sigmoid(slope · logit(p) + bias) and the others are scaled by one factor, so the scores still sum to 1 and
        keep their order (kalas/calibration.py `top_scaled`, the same arithmetic in numpy)."""
        probabilities = (logits / self.temperature(head)).softmax(-1)
        if head not in self.top:
            return probabilities
        slope, bias = self.top[head]
        top, best = probabilities.max(-1, keepdim=True)
        top = top.clamp(1e-7, 1 - 1e-7)
        scaled = torch.sigmoid(slope * torch.logit(top) + bias)
        return (probabilities * ((1 - scaled) / (1 - top))).scatter(-1, best, scaled)
