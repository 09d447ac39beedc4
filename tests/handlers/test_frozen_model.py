"""The frozen graph answers what the eager model answers, in the same nested dict, and refuses what it cannot follow."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from handlers.frozen_model import FrozenModel

SIZE = 16


class TwoHeads(nn.Module):
    """Conv + batch norm (what freezing folds) and a nested dict of outputs, as the fashion model returns."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.bn.running_mean.uniform_(-1, 1)
        self.bn.running_var.uniform_(0.5, 2)
        self.category = nn.Linear(8, 4)
        self.colour = nn.Linear(8, 3)

    def forward(self, images: torch.Tensor) -> dict:
        pooled = torch.relu(self.bn(self.conv(images))).mean(dim=(2, 3))
        return {"category": self.category(pooled), "attributes": {"colour": self.colour(pooled)}, "pooled": pooled}


class BranchesOnBatchSize(TwoHeads):
    def forward(self, images: torch.Tensor) -> dict:
        answer = super().forward(images)
        return answer if images.shape[0] == 2 else {**answer, "category": -answer["category"]}


def test_frozen_answers_equal_the_eager_model_for_any_batch_size() -> None:
    model = TwoHeads().eval()
    frozen = FrozenModel(model, SIZE)
    for batch in (1, 5):
        images = torch.rand(batch, 3, SIZE, SIZE)
        with torch.inference_mode():
            want, got = model(images), frozen(images)
        assert list(got) == ["category", "attributes", "pooled"] and list(got["attributes"]) == ["colour"]
        torch.testing.assert_close(got["category"], want["category"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got["attributes"]["colour"], want["attributes"]["colour"], atol=1e-5, rtol=1e-5)
        assert got["pooled"].shape == (batch, 8)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the trace warns of exactly what is tested
def test_a_forward_that_branches_on_its_input_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="category differs from the eager model's"):
        FrozenModel(BranchesOnBatchSize().eval(), SIZE)


def test_outputs_that_are_not_tensors_in_dicts_are_refused_with_what_came() -> None:
    class ReturnsList(TwoHeads):
        def forward(self, images: torch.Tensor) -> list:  # type: ignore[override]
            return [super().forward(images)["category"]]

    with pytest.raises(TypeError, match="returned a list"):
        FrozenModel(ReturnsList().eval(), SIZE)


def test_a_model_that_returns_one_tensor_answers_one_tensor() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU6()).eval()
    images = torch.rand(2, 3, SIZE, SIZE)
    with torch.inference_mode():
        torch.testing.assert_close(FrozenModel(model, SIZE)(images), model(images), atol=1e-5, rtol=1e-5)


def test_bf16_answers_float32_tensors_close_to_the_float32_model_and_leaves_the_model_as_it_was() -> None:
    model = TwoHeads().eval()
    frozen = FrozenModel(model, SIZE, "bf16")
    assert next(model.parameters()).dtype == torch.float32  # the graph runs on a copy
    images = torch.rand(3, 3, SIZE, SIZE)
    with torch.inference_mode():
        want, got = model(images), frozen(images)
    assert got["category"].dtype == got["attributes"]["colour"].dtype == torch.float32
    torch.testing.assert_close(got["category"], want["category"], atol=3e-2, rtol=3e-2)
    torch.testing.assert_close(got["attributes"]["colour"], want["attributes"]["colour"], atol=3e-2, rtol=3e-2)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_bf16_still_refuses_a_forward_that_branches_on_its_input() -> None:
    with pytest.raises(ValueError, match="category differs from the eager model's"):
        FrozenModel(BranchesOnBatchSize().eval(), SIZE, "bf16")


def test_an_unknown_precision_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="fp32, bf16"):
        FrozenModel(TwoHeads().eval(), SIZE, "int8")


def test_the_precisions_named_for_archives_are_those_the_graph_runs() -> None:
    from handlers.archive import PRECISIONS
    from handlers.frozen_model import DTYPES

    assert tuple(DTYPES) == PRECISIONS
