"""One fit of scripts/calibrate.py as the attributes handler applies it: a temperature per head (every score is
softmax(logits / T)) and the policy table. Apart from the handler because a TorchServe handler file may hold one
class only."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Calibration:
    """One fit of scripts/calibrate.py: a temperature per head, and the policy table."""

    temperatures: dict[str, float]
    policy: dict

    @classmethod
    def of(cls, fitted: dict) -> "Calibration":
        given = fitted.get("temperatures", {})
        temperatures = {head: float(given[head]) for head in ("category", "colour") if head in given}
        temperatures.update({f"attributes.{group}": float(t) for group, t in given.get("attributes", {}).items()})
        return cls(temperatures, fitted.get("policy", {}))

    def temperature(self, head: str) -> float:
        return self.temperatures.get(head, 1.0)

    def probabilities(self, head: str, logits: torch.Tensor) -> torch.Tensor:
        return (logits / self.temperature(head)).softmax(-1)
