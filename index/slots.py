"""Which product and image each FAISS slot of a catalogue index holds, and each product's slots and category.

A product's images get consecutive slots when it is added, slots are never reused, and products are numbered in
the same order: so each product's first slot, in one sorted array, is all it takes to go both ways (a slot's product
is the last one whose first slot is not after it, by `searchsorted`; a product's slots run to the next one's first).
What else a slot holds is its image key; a product, its category; the product id ↔ number lookup is sorted arrays
too (index/product_ids.py). Image keys that are ObjectIds, as the API names images, are held as their 12 bytes.

Bytes per vector, one-photo products and their images named by the API's 24-character ids, at 1M
(docs/benchmarks.md, "Compressed vectors"): the first version's dicts held 432 (at 200,000), arrays with a
product-id dict 186, with sorted ids 64-68 (8 first slot, 4 count, 4 category, 4 slot's owner, 24 image key, 20 id),
these 37.0 after a build (4 first slot, 1 category, 12 image key, 20 id) and 40.0 added one by one (the columns'
spare capacity, as they grow by an eighth, and the recent ids). Saved as arrays (index/persist.py).
"""
from __future__ import annotations

import sys
from typing import Iterable, Iterator

import numpy as np

from index.product_ids import ProductIds, as_objectids, as_text

NO_CATEGORY = -1


class Column:
    """A growable 1-d numpy array; capacity grows by an eighth (as CPython's lists do: at most 1/8 spare, each value
    copied about 8 times as it grows), bytes columns widen to their longest value and integer ones to their largest."""

    def __init__(self, dtype: str | np.dtype, values: np.ndarray | None = None) -> None:
        if values is None:
            self._array, self.size = np.empty(16, dtype=dtype), 0
        else:
            values = np.asarray(values)
            self._array, self.size = values.astype(_wider(np.dtype(dtype), values), copy=False), len(values)

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        dtype = _wider(self._array.dtype, values)
        if dtype != self._array.dtype:
            self._array = self._array.astype(dtype)
        if end > len(self._array):
            grown = np.empty(max(end, len(self._array) + len(self._array) // 8 + 16), dtype=self._array.dtype)
            grown[: self.size] = self._array[: self.size]
            self._array = grown
        self._array[self.size : end] = values
        self.size = end

    def trim(self) -> None:
        """No spare capacity (after a build: its size is final until the next change)."""
        self._array = self._array[: self.size].copy()

    @property
    def values(self) -> np.ndarray:
        """The filled part (a view)."""
        return self._array[: self.size]

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    def item(self, index: int) -> int | bytes:
        """One filled value as a Python object (a lookup's few scalar reads: no view, no numpy scalar)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of a column of {self.size}")
        return self._array.item(index)

    def nbytes(self) -> int:
        return self._array.nbytes


def _wider(dtype: np.dtype, values: np.ndarray) -> np.dtype:
    """`dtype`, or a wider one of its kind that holds `values` too."""
    if dtype.kind == "S" and values.dtype.itemsize > dtype.itemsize:
        return values.dtype
    if dtype.kind == "i" and len(values):
        low, high = values.min(), values.max()
        if low < np.iinfo(dtype).min or high > np.iinfo(dtype).max:
            return np.result_type(dtype, np.min_scalar_type(low), np.min_scalar_type(high))
    return dtype


class Keys:
    """Text keys (the images'), one per slot: 12 bytes each while every one is an ObjectId (24 lowercase hexadecimal
    characters), else their UTF-8; the first other key turns the column to text for good."""

    def __init__(self, encoded: np.ndarray | None = None) -> None:
        keys = as_objectids(encoded) if encoded is not None else np.empty(0, dtype="S12")
        self._packed = keys is not None
        self._column = Column("S12", keys) if self._packed else Column(encoded.dtype, encoded)

    def extend(self, encoded: np.ndarray) -> None:
        keys = as_objectids(encoded) if self._packed else encoded
        if keys is None:
            self._packed = False
            self._column = Column(encoded.dtype, as_text(self._column.values) if self._column.size else None)
            keys = encoded
        self._column.extend(keys)

    def text(self, index: int) -> str:
        raw = self._column.item(index)
        return raw.ljust(12, b"\0").hex() if self._packed else raw.decode("utf-8")

    def encoded(self) -> np.ndarray:
        """Every key's UTF-8, in a numpy bytes array."""
        return as_text(self._column.values) if self._packed else self._column.values

    def trim(self) -> None:
        self._column.trim()

    def nbytes(self) -> int:
        return self._column.nbytes()


def _encoded(texts: Iterable[str]) -> np.ndarray:
    """UTF-8 bytes in a numpy bytes array as wide as the longest (`S1` when there are none)."""
    return np.asarray([text.encode("utf-8") for text in texts], dtype=bytes)


class Slots:
    def __init__(self) -> None:
        self._ids = ProductIds()  # product id <-> product number (index/product_ids.py)
        self._first = Column("int32")  # product number -> its first slot; never decreasing (see above)
        self._category = Column("int8")  # product number -> category code, NO_CATEGORY
        self._image = Keys()  # slot -> image key
        self._categories: list[str] = []  # category code -> name
        self._codes: dict[str, int] = {}
        self.next_slot = 0
        self.live = 0  # slots held by products
        self.most_images = 1  # an upper bound on images per product, for how far a search must over-fetch

    # -- changes -------------------------------------------------------------------------------------------

    def add(self, product_id: str, images: list[str], category: str | None) -> np.ndarray:
        """New consecutive slots for the product's images (the product must not be held); their ids."""
        number, first = self._first.size, self.next_slot
        self._ids.add(product_id, number)
        self._first.extend(np.asarray([first], dtype=np.int64))
        self._category.extend(np.asarray([self._code(category)], dtype=np.int64))
        self._image.extend(_encoded(images))
        self.next_slot += len(images)
        self.live += len(images)
        self.most_images = max(self.most_images, len(images))
        return np.arange(first, first + len(images), dtype=np.int64)

    def remove(self, product_id: str) -> tuple[np.ndarray, str | None] | None:
        """The product's slots and category, now forgotten (its number and slots are not used again); None if it
        was not held."""
        number = self._ids.remove(product_id)
        if number is None:
            return None
        slots = self._slots(number)
        self.live -= len(slots)
        return slots, self._name(self._category.item(number))

    def trim(self) -> None:
        """Drop spare capacity and merge the recent ids (after a build)."""
        for column in (self._first, self._category, self._image):
            column.trim()
        self._ids.merge()

    def _code(self, category: str | None) -> int:
        if category is None:
            return NO_CATEGORY
        code = self._codes.get(category)
        if code is None:
            code = self._codes[category] = len(self._categories)
            self._categories.append(category)
        return code

    def _name(self, code: int) -> str | None:
        return None if code == NO_CATEGORY else self._categories[code]

    # -- reading -------------------------------------------------------------------------------------------

    def __contains__(self, product_id: object) -> bool:
        return self._ids.number(product_id) is not None

    def __len__(self) -> int:
        return len(self._ids)

    def products(self) -> list[str]:
        """The held products' ids, in the order they were (last) added."""
        return self._ids.held()

    def slots_of(self, product_id: str) -> np.ndarray:
        return self._slots(self._number(product_id))

    def _number(self, product_id: str) -> int:
        number = self._ids.number(product_id)
        if number is None:
            raise KeyError(product_id)
        return number

    def _slots(self, number: int) -> np.ndarray:
        end = self._first.item(number + 1) if number + 1 < self._first.size else self.next_slot
        return np.arange(self._first.item(number), end, dtype=np.int64)

    def _owners(self, slots: np.ndarray) -> np.ndarray:
        """The product number of each slot (< next_slot). The slots take the column's own type first: numpy would
        otherwise copy the whole column to the slots' wider one for every search."""
        return self._first.values.searchsorted(slots.astype(self._first.dtype), "right") - 1

    def category_of(self, product_id: str) -> str | None:
        return self._name(self._category.item(self._number(product_id)))

    def product_of(self, slot: int) -> str:
        return self._ids.id_of(int(self._owners(np.asarray([slot]))[0]))

    def named(self, slots: np.ndarray) -> Iterator[tuple[str, int]]:
        """(product id, slot) of each of a search's slots in turn, up to the first -1 (FAISS's padding); their
        products found in one `searchsorted`, their ids made as they are asked for."""
        held = slots[: np.argmax(slots < 0)] if (slots < 0).any() else slots
        for slot, number in zip(held.tolist(), self._owners(held).tolist()):
            yield self._ids.id_of(number), slot

    def image_of(self, slot: int) -> str:
        if not 0 <= slot < self.next_slot:
            raise IndexError(f"slot {slot} out of {self.next_slot}")
        return self._image.text(slot)

    def in_category(self, category: str) -> np.ndarray:
        """The slots of the category's products."""
        code = self._codes.get(category)
        if code is None:
            return np.empty(0, dtype=np.int64)
        members = (self._category.values == code) & self._ids.held_mask(self._first.size)
        counts = np.diff(self._first.values, append=self.next_slot)
        return np.flatnonzero(np.repeat(members, counts)).astype(np.int64)

    def memory_bytes(self) -> int:
        """What this bookkeeping holds: its arrays (spare capacity included), the product ids' (their recent
        additions' dict, strings and numbers included) and the category names' (sys.getsizeof, where tracemalloc
        counts a little more: the allocator's own overhead)."""
        categories = sys.getsizeof(self._categories) + sys.getsizeof(self._codes) + sum(
            sys.getsizeof(name) + sys.getsizeof(code) for name, code in self._codes.items())
        return (self._first.nbytes() + self._category.nbytes() + self._image.nbytes() + self._ids.nbytes()
                + categories)

    # -- persistence ---------------------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as arrays (what a save writes), removed products' numbers included."""
        return {"ids": self._ids.encoded(), "held": self._ids.held_mask(self._first.size), "first": self._first.values,
                "category": self._category.values, "image": self._image.encoded(),
                "categories": _encoded(self._categories)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], next_slot: int, most_images: int) -> "Slots":
        """From `arrays`, or those of the second format (a count per product and an owner per slot)."""
        if "owner" in arrays:
            held = arrays["count"] > 0  # a removed product's count is 0
            arrays = _numbered_by_slot(arrays["ids"][held], arrays["first"][held], arrays["count"][held],
                                       arrays["category"][held], arrays["image"], arrays["categories"], next_slot)
        slots = cls()
        slots._ids = ProductIds.from_encoded(arrays["ids"], arrays["held"])
        slots._first = Column("int32", arrays["first"])
        slots._category = Column("int8", arrays["category"])
        slots._image = Keys(arrays["image"])
        slots._categories = [raw.decode("utf-8") for raw in arrays["categories"].tolist()]
        slots._codes = {name: code for code, name in enumerate(slots._categories)}
        slots.next_slot, slots.most_images = next_slot, most_images
        counts = np.diff(slots._first.values, append=next_slot)
        slots.live = int(counts[arrays["held"]].sum())
        return slots

    @classmethod
    def from_lists(cls, products: list[str], categories: list[str | None], slots: list[list[int]],
                   images: list[list[str]], next_slot: int, most_images: int) -> "Slots":
        """From the lists an index file of the first format kept (each product's slots are consecutive there too)."""
        keys: list[bytes] = [b""] * next_slot
        for product, product_slots, product_images in zip(products, slots, images):
            if product_slots != list(range(product_slots[0], product_slots[0] + len(product_slots))):
                raise ValueError(f"the index file gives product {product!r} slots that do not follow on")
            for slot, image in zip(product_slots, product_images):
                keys[slot] = image.encode("utf-8")
        names = sorted({c for c in categories if c is not None})
        codes = {name: code for code, name in enumerate(names)}
        arrays = _numbered_by_slot(
            _encoded(products), np.asarray([s[0] for s in slots], dtype=np.int64),
            np.asarray([len(s) for s in slots], dtype=np.int64),
            np.asarray([NO_CATEGORY if c is None else codes[c] for c in categories], dtype=np.int64),
            np.asarray(keys, dtype=bytes) if keys else _encoded([]), _encoded(names), next_slot)
        return cls.from_arrays(arrays, next_slot, most_images)


def _numbered_by_slot(ids: np.ndarray, first: np.ndarray, count: np.ndarray, category: np.ndarray,
                      image: np.ndarray, categories: np.ndarray, next_slot: int) -> dict[str, np.ndarray]:
    """The arrays of an earlier format's held products (any order, each its first slot and count) as this one keeps
    them: numbered in slot order, with a removed product wherever slots belong to none, and those slots' image keys
    the first held one's (never read: so that ObjectId keys still pack)."""
    order = np.argsort(first, kind="stable")
    ids, first, count, category = ids[order], first[order], count[order], category[order]
    ends = first + count
    previous = np.concatenate(([0], ends[:-1])).astype(np.int64)
    if (first < previous).any() or (len(ends) and ends[-1] > next_slot):
        raise ValueError("the index file gives two products the same slots: rebuild the index from the database")
    gaps = np.flatnonzero(first > previous)
    held = np.insert(np.ones(len(ids), dtype=bool), gaps, False)
    ids, first = np.insert(ids, gaps, b""), np.insert(first, gaps, previous[gaps])
    category = np.insert(category, gaps, NO_CATEGORY)
    end = int(ends[-1]) if len(ends) else 0
    if end < next_slot:  # slots after the last held product
        ids, first = np.append(ids, b""), np.append(first, end)
        held, category = np.append(held, False), np.append(category, NO_CATEGORY)
    image = image.copy()
    in_held = np.repeat(held, np.diff(first, append=next_slot))
    if in_held.any():
        image[~in_held] = image[np.argmax(in_held)]
    return {"ids": ids, "held": held, "first": first, "category": category, "image": image, "categories": categories}
