"""Comparing answers of the two inference paths (TorchServe and in-process) for the same image."""
from __future__ import annotations

import math

# The same image in a batch of different size runs through different kernels: scores agree to ~1e-6.
SCORE_TOLERANCE = 1e-4


def assert_same_annotation(served: dict, local: dict) -> None:
    """Same labels in the same order, scores equal within tolerance, identical colours and model identity."""
    assert served.keys() == local.keys()
    _assert_same_ranking(served["category"], local["category"], "category")
    assert served["attributes"].keys() == local["attributes"].keys()
    for group in served["attributes"]:
        _assert_same_ranking(served["attributes"][group], local["attributes"][group], group)
    assert served["colours"] == local["colours"]
    assert served["model"] == local["model"]
    for a, b in zip(served.get("signals", []), local.get("signals", [])):
        assert math.isclose(a, b, abs_tol=SCORE_TOLERANCE), ("signals", a, b)


def _assert_same_ranking(served: list[dict], local: list[dict], what: str) -> None:
    assert [x["label"] for x in served] == [x["label"] for x in local], what
    assert [x["name"] for x in served] == [x["name"] for x in local], what
    for a, b in zip(served, local):
        assert math.isclose(a["score"], b["score"], abs_tol=SCORE_TOLERANCE), (what, a, b)
