"""Metrics on tiny hand-made predictions, with the expected values worked out by hand."""
from __future__ import annotations

import pytest

from kalas.metrics import confusion, mmfashion_attribute_recall, mmfashion_category_recall, ranked_accuracy

TRUTHS = ["shirt", "shirt", "shirt", "jeans"]
RANKINGS = [
    ["shirt", "tee", "jeans"],  # right at 1
    ["tee", "shirt", "jeans"],  # right at 2
    ["tee", "jeans", "dress"],  # wrong
    ["jeans", "shirt", "tee"],  # right at 1
]


def test_top1_top_k_per_class_and_macro() -> None:
    report = ranked_accuracy(TRUTHS, RANKINGS, k=2)
    assert report["count"] == 4
    assert report["top1"] == pytest.approx(2 / 4)
    assert report["top2"] == pytest.approx(3 / 4)
    assert report["per_class"]["shirt"] == {"count": 3, "top1": pytest.approx(1 / 3), "top2": pytest.approx(2 / 3)}
    assert report["per_class"]["jeans"] == {"count": 1, "top1": 1.0, "top2": 1.0}
    # Macro: the one jeans photo weighs as much as the three shirts.
    assert report["macro_top1"] == pytest.approx((1 / 3 + 1) / 2)
    assert report["macro_top2"] == pytest.approx((2 / 3 + 1) / 2)
    assert list(report["per_class"]) == ["shirt", "jeans"]  # commonest class first


def test_a_group_truth_is_matched_by_any_of_its_leaves() -> None:
    groups = {"jeans": "pants", "trousers": "pants"}

    def matches(predicted: str, truth: str) -> bool:
        return predicted == truth or groups.get(predicted) == truth

    report = ranked_accuracy(["pants", "pants"], [["jeans"], ["shirt", "trousers"]], k=2, matches=matches)
    assert (report["top1"], report["top2"]) == (0.5, 1.0)


def test_an_empty_ranking_is_wrong_and_nothing_to_score_is_none() -> None:
    assert ranked_accuracy(["red"], [[]], k=3)["top1"] == 0.0
    empty = ranked_accuracy([], [], k=3)
    assert empty["top1"] is None and empty["macro_top1"] is None and empty["per_class"] == {}
    with pytest.raises(ValueError, match="1 truths but 2 predictions"):
        ranked_accuracy(["red"], [["red"], ["blue"]])


def test_mmfashion_category_recall_is_per_class_recall_averaged() -> None:
    recall = mmfashion_category_recall(TRUTHS, RANKINGS, ks=(1, 3))
    assert recall["top1"] == pytest.approx((1 / 3 + 1) / 2)
    assert recall["top3"] == pytest.approx((2 / 3 + 1) / 2)


def test_mmfashion_attribute_recall_and_its_true_negative_accuracy() -> None:
    values = ["men", "women", "casual", "formal", "summer", "winter"]
    positives = [{"men", "casual"}, {"women", "formal"}, {"men", "summer"}]
    rankings = [
        ["men", "casual", "summer", "women", "formal", "winter"],
        ["men", "formal", "winter", "women", "casual", "summer"],
        ["summer", "women", "men", "casual", "formal", "winter"],
    ]
    report = mmfashion_attribute_recall(positives, rankings, values, ks=(2,), best=50)
    # top-2 picks: {men, casual}, {men, formal}, {summer, women}.
    # per-value recall: men 1/2, women 0/1, casual 1/1, formal 1/1, summer 1/1; winter has no positive.
    assert report["top2"]["recall"] == pytest.approx((0.5 + 0 + 1 + 1 + 1) / 5)
    # errors (fn + fp) per value: men 1 fn + 1 fp, women 1 fn + 1 fp, casual 0, formal 0, summer 0, winter 0.
    assert report["top2"]["accuracy"] == pytest.approx((1 / 3 + 1 / 3 + 1 + 1 + 1 + 1) / 6)
    best_two = mmfashion_attribute_recall(positives, rankings, values, ks=(2,), best=2)
    assert best_two["top2"]["recall"] == 1.0


def test_confusion_counts_rows_by_truth_and_an_outside_column() -> None:
    matrix = confusion(["red", "red", "blue", "green"], ["red", "blue", "teal", "red"], ["red", "blue"])
    assert matrix == [[1, 1, 0], [0, 0, 1]]  # the green truth is not a row; teal falls in the last column
