"""Product id ↔ number in sorted arrays (index/product_ids.py), against a dict as the oracle: lookups after adds,
removals and re-adds, before and after the recent ids are merged into the sorted array, and through its encoding."""
from __future__ import annotations

import random

import numpy as np
import pytest

from index import product_ids
from index.product_ids import ProductIds


@pytest.fixture
def merge_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """Merge every few changes, so a short test crosses many merges."""
    monkeypatch.setattr(product_ids, "MERGE_AT", 3)
    monkeypatch.setattr(product_ids, "MERGE_FRACTION", 4)


def check(ids: ProductIds, oracle: dict[str, int], ever: set[str]) -> None:
    assert len(ids) == len(oracle)
    assert ids.held() == sorted(oracle, key=oracle.__getitem__)  # by number: the order they were added in
    for product_id in ever | {"never-held", "", "x" * 300}:
        assert ids.number(product_id) == oracle.get(product_id), product_id
    for product_id, number in oracle.items():
        assert ids.id_of(number) == product_id


@pytest.mark.parametrize("others_from", [0, 300, None], ids=["mixed", "objectids-then-others", "objectids"])
def test_lookups_follow_adds_removals_and_re_adds_across_merges(merge_often: None, others_from: int | None) -> None:
    """ObjectIds (packed to 12 bytes), ids of any other text from step `others_from` (back to UTF-8 from then)."""
    rng = random.Random(0)
    object_ids = ["0" * 24, "ff" * 12, "00ff" * 6, "ab" * 11 + "00"]  # some end in a zero byte once packed
    object_ids += [f"{rng.getrandbits(96):024x}" for _ in range(40)]
    others = ["short", "a-much-longer-product-id-than-the-others-are", "só-utf8", "p\0inside", "AB" * 12, ""]
    ids, oracle, ever, number = ProductIds(), {}, set(), 0
    for step in range(600):
        product_id = rng.choice(object_ids + (others if others_from is not None and step >= others_from else []))
        if product_id in oracle and rng.random() < 0.5:
            assert ids.remove(product_id) == oracle.pop(product_id)
        elif product_id not in oracle:
            ids.add(product_id, number)
            oracle[product_id], number = number, number + 1
            ever.add(product_id)
        else:
            assert ids.remove(product_id + "-not-held") is None
        if step % 7 == 0:
            check(ids, oracle, ever | {"AB" * 12, "0" * 23, " " + "0" * 23})
        if step % 50 == 0:  # what a save writes and a load reads gives the same answers
            encoded = ids.encoded()
            assert len(encoded) == number
            held = np.zeros(number, dtype=bool)
            held[list(oracle.values())] = True
            check(ProductIds.from_encoded(encoded, held), oracle, ever)
    check(ids, oracle, ever)
    assert ids._packed == (others_from is None)


def test_objectids_are_held_as_their_12_bytes_until_another_id_comes() -> None:
    ids = ProductIds.from_encoded(np.asarray([f"{i:024x}".encode() for i in range(1000)]), np.ones(1000, dtype=bool))
    assert ids._sorted.dtype == np.dtype("S12") and ids.id_of(0) == "0" * 24 and ids.number(f"{256:024x}") == 256
    assert ids.number(f"{255:024X}") is None and ids.number("00 " * 8) is None  # upper case is another id
    for number in range(1000, 1000 + product_ids.MERGE_AT - 1):
        ids.add(f"{number:024x}", number)
    ids.add("sku-1", 1000 + product_ids.MERGE_AT - 1)  # the merge that takes it in turns the array back to text
    assert ids._sorted.dtype == np.dtype("S24") and ids.number("sku-1") == 1000 + product_ids.MERGE_AT - 1
    assert ids.number(f"{256:024x}") == 256 and ids.id_of(1500) == f"{1500:024x}"
    assert ids.encoded()[[0, 256, -1]].tolist() == [b"0" * 24, f"{256:024x}".encode(), b"sku-1"]


def test_an_id_removed_from_the_sorted_array_and_added_again_has_its_new_number(merge_often: None) -> None:
    ids = ProductIds()
    for number, product_id in enumerate(["a", "b", "c", "d"]):
        ids.add(product_id, number)  # merged after the third
    assert ids.remove("b") == 1 and ids.number("b") is None and ids.remove("b") is None
    ids.add("b", 4)
    assert ids.number("b") == 4 and ids.held() == ["a", "c", "d", "b"]
    for number, product_id in enumerate(["e", "f", "g"], start=5):
        ids.add(product_id, number)  # merged again: the removed "b" leaves the sorted array, the new one enters
    assert ids.number("b") == 4 and ids.id_of(4) == "b" and len(ids) == 7


def test_an_id_ending_in_nul_is_refused_and_never_found() -> None:
    ids = ProductIds()
    ids.add("a", 0)
    with pytest.raises(ValueError, match="NUL"):
        ids.add("a\0", 1)
    assert ids.number("a\0") is None and ids.number("a") == 0


def test_a_save_holding_an_id_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'x' twice"):
        ProductIds.from_encoded(np.asarray([b"x", b"y", b"x"]), np.asarray([True, True, True]))


def test_a_lookup_of_an_id_longer_than_any_held_copies_nothing() -> None:
    skus = np.asarray([f"sku-{i:020d}".encode() for i in range(1000)])  # 24 characters, not hexadecimal
    ids = ProductIds.from_encoded(skus, np.ones(1000, dtype=bool))
    before = ids._sorted
    assert ids.number("f" * 25) is None and ids.number(f"sku-{999:020d}") == 999
    assert ids._sorted is before and ids._sorted.dtype == np.dtype("S24")
