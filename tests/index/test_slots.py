"""The slots' bookkeeping of a catalogue index (index/slots.py): what each slot holds, each product's slots and
category, through adds, removals, a save in both file formats, and what it costs per vector."""
from __future__ import annotations

import json
import struct
import tracemalloc

import faiss
import numpy as np
import pytest

from index import CatalogueIndex, persist, product_ids
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


def test_slots_answer_the_same_across_merges_of_their_ids_and_a_save(monkeypatch):
    """Many products added, removed and added again, with the ids' recent additions merged every few changes
    (index/product_ids.py): each answer as a dict of what is held says, before and after the arrays' round trip."""
    monkeypatch.setattr(product_ids, "MERGE_AT", 3)
    monkeypatch.setattr(product_ids, "MERGE_FRACTION", 4)
    slots, held = Slots(), {}  # product -> (its images, category)
    for step in range(300):
        product = f"{step * 7 % 50:024x}"
        if product in held:
            assert slots.remove(product)[1] == held.pop(product)[1]
        else:
            images = [f"{product}-{i}" for i in range(1 + step % 3)]
            slots.add(product, images, f"c{step % 4}" if step % 5 else None)
            held[product] = images, (f"c{step % 4}" if step % 5 else None)
    for copy in (slots, Slots.from_arrays(slots.arrays(), slots.next_slot, slots.most_images)):
        assert copy.products() == list(held) and len(copy) == len(held)
        assert copy.live == sum(len(images) for images, _ in held.values())
        for product, (images, category) in held.items():
            assert product in copy and copy.category_of(product) == category
            held_slots = copy.slots_of(product)
            assert [(copy.product_of(s), copy.image_of(s)) for s in held_slots] == [(product, i) for i in images]
        assert f"{99:024x}" not in copy
        with pytest.raises(KeyError):
            copy.slots_of(f"{99:024x}")


def test_slots_load_the_arrays_the_dict_version_saved():
    """Format 2 as the version with a product-id dict wrote it (index/slots.py before issue #27): a removed
    product's id empty and its count 0; a product re-added after its removal under a new number."""
    arrays = {"ids": np.asarray([b"p1", b"", b"p3", b"p2"]), "first": np.asarray([0, 1, 3, 4], dtype=np.int64),
              "count": np.asarray([1, 0, 1, 1], dtype=np.int32), "category": np.asarray([0, -1, 1, -1], dtype=np.int32),
              "owner": np.asarray([0, -1, -1, 2, 3], dtype=np.int32),
              "image": np.asarray([b"x", b"y", b"z", b"w", b"v"]),
              "categories": np.asarray([b"a", b"b"])}
    slots = Slots.from_arrays(arrays, 5, 2)
    assert slots.products() == ["p1", "p3", "p2"] and slots.live == 3 and "" not in slots
    assert slots.slots_of("p2").tolist() == [4] and slots.product_of(3) == "p3" and slots.category_of("p3") == "b"
    assert slots.in_category("a").tolist() == [0] and slots.add("p4", ["u"], None).tolist() == [5]
    assert Slots.from_arrays(slots.arrays(), 6, 2).arrays()["ids"].tolist() == [b"p1", b"", b"p3", b"p2", b"p4"]


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


def test_an_index_file_of_the_second_format_still_loads(tmp_path):
    """As the version before issue #27's whole-index target saved it (KALAS-IRIS-INDEX/2): a count per product and an
    owner per slot, a removed product's id empty, its count 0 and its slots' owner -1."""
    vectors = np.eye(5, 8, dtype=np.float32)
    index = CatalogueIndex.build(8, ["a", "a", "b", "c", "d"], vectors, images=["a1", "a2", "b1", "c1", "d1"],
                                 categories=["tops", "tops", None, "shoes", "tops"])
    index.remove("b")
    meta, _, faiss_index = index.snapshot()
    arrays = {"ids": np.asarray([b"a", b"", b"c", b"d"]), "first": np.asarray([0, 2, 3, 4], dtype=np.int64),
              "count": np.asarray([2, 0, 1, 1], dtype=np.int32), "category": np.asarray([0, -1, 1, 0], dtype=np.int32),
              "owner": np.asarray([0, 0, -1, 2, 3], dtype=np.int32),
              "image": np.asarray([b"a1", b"a2", b"", b"c1", b"d1"]), "categories": np.asarray([b"tops", b"shoes"])}
    meta["arrays"] = [[name, array.dtype.str, len(array)] for name, array in arrays.items()]
    header = json.dumps(meta).encode()
    path = tmp_path / "index.kidx"
    with open(path, "wb") as handle:
        handle.write(persist.SECOND_FORMAT + struct.pack("<Q", len(header)) + header)
        for array in arrays.values():
            handle.write(array.tobytes())
        faiss.write_index(faiss_index, faiss.PyCallbackIOWriter(handle.write))
    for loaded in (persist.load(path), persist.load(persist.save(persist.load(path), tmp_path / "again.kidx"))):
        assert loaded.products() == ["a", "c", "d"] and "b" not in loaded and loaded.category_of("c") == "shoes"
        assert [h.product_id for h in loaded.search(vectors[4], k=3, category="tops")] == ["d", "a"]
        assert loaded.search(vectors[1], k=1)[0] == index.search(vectors[1], k=1)[0]  # ("a", its image "a2")
        loaded.upsert("e", vectors[2:3], images=["e1"], category="shoes")  # slots go on after the removed ones
        assert [(h.product_id, h.image) for h in loaded.search(vectors[2], k=1)] == [("e", "e1")]
    assert (tmp_path / "again.kidx").read_bytes().startswith(persist.MAGIC)


def test_image_keys_that_are_objectids_are_held_as_12_bytes_until_another_key_comes():
    slots = Slots()
    slots.add(f"{1:024x}", [f"{10:024x}", "0" * 24], None)  # the API's image ids; one ends in zero bytes
    assert slots._image.nbytes() < 16 * 12 + 1 and slots.image_of(1) == "0" * 24
    slots.add("sku-2", ["front"], None)
    keys = [f"{10:024x}", "0" * 24, "front"]
    assert [slots.image_of(s) for s in range(3)] == keys
    copy = Slots.from_arrays(slots.arrays(), slots.next_slot, slots.most_images)
    assert [copy.image_of(s) for s in range(3)] == keys and copy.product_of(2) == "sku-2"


def test_categories_past_what_a_byte_holds_widen_their_column():
    slots = Slots()
    for i in range(300):
        slots.add(f"p{i}", [f"i{i}"], f"c{i % 150}")
    slots.remove("p7")
    assert slots.category_of("p299") == "c149" and slots.in_category("c149").tolist() == [149, 299]
    assert slots.in_category("c7").tolist() == [157] and slots.product_of(157) == "p157"


def test_a_file_cut_inside_its_arrays_is_refused_with_the_reason(tmp_path):
    index = CatalogueIndex.build(8, ["a", "b"], np.eye(2, 8, dtype=np.float32))
    path = persist.save(index, tmp_path / "index.kidx")
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[len(persist.MAGIC): len(persist.MAGIC) + 8])
    path.write_bytes(data[: len(persist.MAGIC) + 8 + length + 3])
    with pytest.raises(ValueError, match="cut short"):
        persist.load(path)


def traced(build):
    """(what `build()` returns, the bytes tracemalloc counts it as holding when it returns)."""
    tracemalloc.start()
    try:
        made = build()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return made, held


def test_the_bookkeeping_costs_a_fraction_of_the_dicts_it_replaced():
    """At 100,000 one-photo products, as the API names them (24-character ids): measured, not assumed. The dicts
    of the first version took about 430 bytes per vector with their strings, the arrays with a product-id dict 205 at
    200,000, with sorted ids 64 (docs/benchmarks.md, "Compressed vectors"). The strings are made inside the measure:
    whatever of them the bookkeeping keeps is counted."""
    n = 100_000

    def added_one_by_one():
        slots = Slots()
        for i in range(n):
            slots.add(f"{i:024x}", [f"{i + n:024x}"], None)
        return slots

    slots, held = traced(added_one_by_one)
    assert held / n < 45, held / n  # 17 bytes of slot and product columns + 20 of id, spare capacity on top
    assert abs(slots.memory_bytes() - held) < 0.05 * held, (slots.memory_bytes(), held)
    arrays = slots.arrays()
    loaded, held = traced(lambda: Slots.from_arrays({k: a.copy() for k, a in arrays.items()}, n, 1))
    assert held / n < 40, held / n  # as a load reads them: no spare capacity (37)
    assert loaded.products() == slots.products()
