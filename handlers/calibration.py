"""One fit of scripts/calibrate.py as the attributes handler applies it: a temperature per head (every score is
softmax(logits / T)), for the category a scaling of its top score or a rising curve through it, and the policy
table. Apart from the handler because a TorchServe handler file may hold one class only."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Calibration:
    """One fit of scripts/calibrate.py: a temperature per head, (slope, bias) of the top scaling or the knots (x, y)
    of the top curve of the heads that have one (`category`), and the policy table."""

    temperatures: dict[str, float]
    policy: dict
    top: dict[str, tuple[float, float]] = field(default_factory=dict)
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    @classmethod
    def of(cls, fitted: dict) -> "Calibration":
        given = fitted.get("temperatures", {})
        temperatures = {head: float(given[head]) for head in ("category", "colour") if head in given}
        temperatures.update({f"attributes.{group}": float(t) for group, t in given.get("attributes", {}).items()})
        top = {head: (float(slope), float(bias)) for head, (slope, bias) in fitted.get("top", {}).items()}
        curves = {head: (torch.tensor(knots["x"], dtype=torch.float64), torch.tensor(knots["y"], dtype=torch.float64))
                  for head, knots in fitted.get("top_curve", {}).items()}
        for head, (x, y) in curves.items():
            if not (len(x) == len(y) >= 2 and (x.diff() > 0).all() and (y.diff() >= 0).all()):
                raise ValueError(f"the calibration's top curve of {head!r} is not a rising curve through two or more "
                                 "knots: fit it again with scripts/calibrate.py")
        return cls(temperatures, fitted.get("policy", {}), top, curves)

    def temperature(self, head: str) -> float:
        return self.temperatures.get(head, 1.0)

    def probabilities(self, head: str, logits: torch.Tensor) -> torch.Tensor:
        """softmax(logits / T) over the last dimension; with a top scaling, the top probability p then becomes
        sigmoid(slope · logit(p) + bias), with a top curve its value q on the curve (linear between knots, never
        under the second class's rescaled score), and the others share 1 - q in their own proportions, so the scores
        still sum to 1 and keep their order (kalas/calibration.py `top_scaled`, kalas/top_curve.py `top_curved`: the
        same arithmetic in numpy)."""
        scaled_logits = logits / self.temperature(head)
        probabilities = scaled_logits.softmax(-1)
        if head not in self.top and head not in self.curves or probabilities.shape[-1] < 2:
            return probabilities
        top, best = probabilities.max(-1, keepdim=True)
        if head in self.curves:
            # The others among themselves from their logits, not as p_i / (1 - p): where p rounds to 1 in float32,
            # 1 - p is not what the others hold, and a curve that keeps such a photo under 1 would hand them a share
            # that no longer sums to 1 - q (the top block is scored 0.97, not 1: kalas/top_curve.py).
            rest = scaled_logits.scatter(-1, best, float("-inf")).softmax(-1)
            second = rest.max(-1, keepdim=True).values
            curved = torch.maximum(_interpolated(top, *self.curves[head]), second / (1 + second) + 1e-6)
            return (rest * (1 - curved)).scatter(-1, best, curved)
        top = top.clamp(1e-7, 1 - 1e-7)
        slope, bias = self.top[head]
        scaled = torch.sigmoid(slope * torch.logit(top) + bias)
        return (probabilities * ((1 - scaled) / (1 - top))).scatter(-1, best, scaled)


def _interpolated(values: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """np.interp in torch: linear between the knots (x rising), the end values beyond them."""
    at = values.to(x.dtype).clamp(x[0], x[-1])
    right = torch.searchsorted(x, at).clamp(1, len(x) - 1)
    share = (at - x[right - 1]) / (x[right] - x[right - 1])
    return (y[right - 1] + share * (y[right] - y[right - 1])).to(values.dtype)
