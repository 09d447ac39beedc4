"""The slots' bookkeeping of a catalogue index (index/slots.py): what each slot holds, each product's slots and
category, through adds, removals, a save in both file formats, and what it costs per vector."""
from __future__ import annotations

import json
import struct
import tracemalloc

import faiss
import numpy as np
import pytest

from index import CatalogueIndex, persist
from index.slots import Slots


def test_slots_follow_adds_and_removals():
    slots = Slots()
    first = slots.add("shirt", ["front", "back"], "tops")
    second = slots.add("dress", ["só"], None)  # keys are any text
    third = slots.add("coat", ["a", "b", "c"], "tops")
    assert first.tolist() == [0, 1] and second.tolist() == [2] and third.tolist() == [3, 4, 5]
    assert [slots.product_of(s) for s in range(6)] == ["shirt", "shirt", "dress", "coat", "coat", "coat"]
    assert [slots.image_of(s) for s in (0, 1, 2, 5)] == ["front", "back", "só", "c"]
    assert slots.in_category("tops").tolist() == [0, 1, 3, 4, 5] and slots.in_category("shoes").size == 0
    assert slots.most_images == 3 and slots.live == 6 and len(slots) == 3

    removed, category = slots.remove("shirt")
    assert removed.tolist() == [0, 1] and category == "tops" and slots.remove("shirt") is None
    assert "shirt" not in slots and slots.products() == ["dress", "coat"] and slots.live == 4
    assert slots.in_category("tops").tolist() == [3, 4, 5]
    again = slots.add("shirt", ["front-new-and-a-much-longer-key-than-before"], "tops")  # a wider key widens its column
    assert again.tolist() == [6] and slots.image_of(6) == "front-new-and-a-much-longer-key-than-before"
    assert slots.image_of(5) == "c" and slots.category_of("shirt") == "tops" and slots.category_of("dress") is None


def test_slots_survive_their_arrays_and_the_first_formats_lists():
    slots = Slots()
    slots.add("p1", ["x"], "a")
    slots.add("p2", ["y", "z"], None)
    slots.add("p3", ["w"], "b")
    slots.remove("p1")
    for copy in (Slots.from_arrays(slots.arrays(), slots.next_slot, slots.most_images),
                 Slots.from_lists(["p2", "p3"], [None, "b"], [[1, 2], [3]], [["y", "z"], ["w"]], 4, 2)):
        assert copy.products() == ["p2", "p3"] and copy.live == 3 and copy.next_slot == 4
        assert [copy.product_of(s) for s in (1, 2, 3)] == ["p2", "p2", "p3"]
        assert [copy.image_of(s) for s in (1, 2, 3)] == ["y", "z", "w"]
        assert copy.in_category("b").tolist() == [3] and copy.category_of("p2") is None
        assert copy.add("p4", ["v"], "b").tolist() == [4]


def test_an_index_file_of_the_first_format_still_loads(tmp_path):
    vectors = np.eye(4, 8, dtype=np.float32)
    index = CatalogueIndex.build(8, ["a", "a", "b", "c"], vectors, images=["a1", "a2", "b1", "c1"],
                                 categories=["tops", "tops", None, "shoes"])
    index.position = 9
    meta, _, faiss_index = index.snapshot()
    meta |= {"products": ["a", "b", "c"], "categories": ["tops", None, "shoes"], "slots": [[0, 1], [2], [3]],
             "images": [["a1", "a2"], ["b1"], ["c1"]]}
    header = json.dumps(meta).encode()
    path = tmp_path / "index.kidx"
    with open(path, "wb") as handle:
        handle.write(persist.FIRST_FORMAT + struct.pack("<Q", len(header)) + header)
        faiss.write_index(faiss_index, faiss.PyCallbackIOWriter(handle.write))
    loaded = persist.load(path)
    assert loaded.position == 9 and loaded.products() == ["a", "b", "c"]
    assert [h.product_id for h in loaded.search(vectors[3], k=3, category="shoes")] == ["c"]
    assert loaded.search(vectors[1], k=1)[0].image == "a2"


def test_a_file_cut_inside_its_arrays_is_refused_with_the_reason(tmp_path):
    index = CatalogueIndex.build(8, ["a", "b"], np.eye(2, 8, dtype=np.float32))
    path = persist.save(index, tmp_path / "index.kidx")
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[len(persist.MAGIC): len(persist.MAGIC) + 8])
    path.write_bytes(data[: len(persist.MAGIC) + 8 + length + 3])
    with pytest.raises(ValueError, match="cut short"):
        persist.load(path)


def test_the_bookkeeping_costs_a_fraction_of_the_dicts_it_replaced():
    """At 100,000 one-photo products, as the API names them (24-character ids): measured, not assumed. The dicts
    it replaced took about 430 bytes per vector with their strings (docs/benchmarks.md)."""
    n = 100_000
    ids = [f"{i:024x}" for i in range(n)]
    images = [f"{i + n:024x}" for i in range(n)]
    tracemalloc.start()
    try:
        slots = Slots()
        for product, image in zip(ids, images):
            slots.add(product, [image], None)
        del images
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # What the loop made: the slots' arrays (with their spare capacity) and dict; the id strings were made before.
    per_vector = held / n
    assert per_vector < 150, per_vector
    assert slots.memory_bytes() / n < 250
