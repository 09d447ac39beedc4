"""Which product and image each FAISS slot of a catalogue index holds, and each product's slots and category.

A product's images get consecutive slots when it is added, and slots are never reused, so a product is its first
slot and its count; what a slot holds is its product's number and its image key's bytes, in growable numpy arrays;
the product id ↔ number lookup is sorted arrays too (index/product_ids.py). Measured with tracemalloc over one-photo
products with the API's 24-character ids (docs/benchmarks.md, "Compressed vectors"): the first version's dicts of
slots, images and categories held 432 bytes per vector at 200,000, their strings included, three times the
compressed vector itself; these arrays with a product-id dict 205 (186 at 1M); with the ids sorted, 64 at 200,000
and at 1M as a load makes them (80 and 68 added one by one: the columns' spare capacity). Saved as arrays, not JSON
lists (index/persist.py).
"""
from __future__ import annotations

import sys
from typing import Iterable

import numpy as np

from index.product_ids import ProductIds

NO_CATEGORY = -1
FREE = -1


class Column:
    """A growable 1-d numpy array (capacity doubles); bytes columns widen to their longest value."""

    def __init__(self, dtype: str, values: np.ndarray | None = None) -> None:
        self._array = np.asarray(values, dtype=dtype) if values is not None else np.empty(16, dtype=dtype)
        self.size = len(values) if values is not None else 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if values.dtype.kind == "S" and values.dtype.itemsize > self._array.dtype.itemsize:
            self._array = self._array.astype(values.dtype)
        if end > len(self._array):
            grown = np.empty(max(end, 2 * len(self._array)), dtype=self._array.dtype)
            grown[: self.size] = self._array[: self.size]
            self._array = grown
        self._array[self.size : end] = values
        self.size = end

    @property
    def values(self) -> np.ndarray:
        """The filled part (a view)."""
        return self._array[: self.size]

    def __getitem__(self, index):
        return self._array[: self.size][index]

    def item(self, index: int) -> int | bytes:
        """One filled value as a Python object (a lookup's few scalar reads: no view, no numpy scalar)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of a column of {self.size}")
        return self._array.item(index)

    def __setitem__(self, index, value) -> None:
        self._array[: self.size][index] = value

    def nbytes(self) -> int:
        return self._array.nbytes


def _encoded(texts: Iterable[str]) -> np.ndarray:
    """UTF-8 bytes in a numpy bytes array as wide as the longest (`S1` when there are none)."""
    return np.asarray([text.encode("utf-8") for text in texts], dtype=bytes)


class Slots:
    def __init__(self) -> None:
        self._ids = ProductIds()  # product id <-> product number, held products only (index/product_ids.py)
        self._first = Column("int64")  # product number -> its first slot
        self._count = Column("int32")  # product number -> its number of slots (0 once removed)
        self._category = Column("int32")  # product number -> category code, NO_CATEGORY
        self._owner = Column("int32")  # slot -> product number, FREE once removed
        self._image = Column("S1")  # slot -> image key, UTF-8
        self._categories: list[str] = []  # category code -> name
        self._codes: dict[str, int] = {}
        self.next_slot = 0
        self.live = 0  # slots held by products
        self.most_images = 1  # an upper bound on images per product, for how far a search must over-fetch

    # -- changes -------------------------------------------------------------------------------------------

    def add(self, product_id: str, images: list[str], category: str | None) -> np.ndarray:
        """New consecutive slots for the product's images (the product must not be held); their ids."""
        number, first = self._count.size, self.next_slot
        self._ids.add(product_id, number)
        self._first.extend(np.asarray([first], dtype=np.int64))
        self._count.extend(np.asarray([len(images)], dtype=np.int32))
        self._category.extend(np.asarray([self._code(category)], dtype=np.int32))
        self._owner.extend(np.full(len(images), number, dtype=np.int32))
        self._image.extend(_encoded(images))
        self.next_slot += len(images)
        self.live += len(images)
        self.most_images = max(self.most_images, len(images))
        return np.arange(first, first + len(images), dtype=np.int64)

    def remove(self, product_id: str) -> tuple[np.ndarray, str | None] | None:
        """The product's slots and category, now forgotten; None if it was not held."""
        number = self._ids.remove(product_id)
        if number is None:
            return None
        slots = self._slots(number)
        category = self._name(self._category.item(number))
        if len(slots):
            self._owner[slots[0] : slots[-1] + 1] = FREE  # consecutive: a slice, not a list of slots
        self._count[number] = 0
        self.live -= len(slots)
        return slots, category

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
        first = self._first.item(number)
        return np.arange(first, first + self._count.item(number), dtype=np.int64)

    def category_of(self, product_id: str) -> str | None:
        return self._name(self._category.item(self._number(product_id)))

    def product_of(self, slot: int) -> str:
        return self._ids.id_of(self._owner.item(slot))

    def image_of(self, slot: int) -> str:
        return self._image[slot].decode("utf-8")

    def in_category(self, category: str) -> np.ndarray:
        """The slots of the category's products."""
        code = self._codes.get(category)
        if code is None:
            return np.empty(0, dtype=np.int64)
        owners = self._owner.values
        held = owners != FREE
        members = np.zeros(len(owners), dtype=bool)
        members[held] = self._category.values[owners[held]] == code
        return np.flatnonzero(members).astype(np.int64)

    def memory_bytes(self) -> int:
        """What this bookkeeping holds: its arrays (spare capacity included), the product ids' (their recent
        additions' dict, strings and numbers included) and the category names' (sys.getsizeof, where tracemalloc
        counts a little more: the allocator's own overhead)."""
        columns = (self._first, self._count, self._category, self._owner, self._image)
        categories = sys.getsizeof(self._categories) + sys.getsizeof(self._codes) + sum(
            sys.getsizeof(name) + sys.getsizeof(code) for name, code in self._codes.items())
        return sum(column.nbytes() for column in columns) + self._ids.nbytes() + categories

    # -- persistence ---------------------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as arrays (what a save writes), removed products' numbers included."""
        return {"ids": self._ids.encoded(), "first": self._first.values,
                "count": self._count.values, "category": self._category.values, "owner": self._owner.values,
                "image": self._image.values, "categories": _encoded(self._categories)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], next_slot: int, most_images: int) -> "Slots":
        slots = cls()
        counts = arrays["count"]
        slots._ids = ProductIds.from_encoded(arrays["ids"], counts > 0)  # a removed product's count is 0
        slots._first = Column("int64", arrays["first"])
        slots._count = Column("int32", counts)
        slots._category = Column("int32", arrays["category"])
        slots._owner = Column("int32", arrays["owner"])
        slots._image = Column(arrays["image"].dtype.str, arrays["image"])
        slots._categories = [raw.decode("utf-8") for raw in arrays["categories"].tolist()]
        slots._codes = {name: code for code, name in enumerate(slots._categories)}
        slots.next_slot, slots.most_images = next_slot, most_images
        slots.live = int(counts.sum())
        return slots

    @classmethod
    def from_lists(cls, products: list[str], categories: list[str | None], slots: list[list[int]],
                   images: list[list[str]], next_slot: int, most_images: int) -> "Slots":
        """From the lists an index file of the first format kept (each product's slots are consecutive there too)."""
        owner = np.full(next_slot, FREE, dtype=np.int32)
        keys: list[bytes] = [b""] * next_slot
        for number, (product_slots, product_images) in enumerate(zip(slots, images)):
            if product_slots != list(range(product_slots[0], product_slots[0] + len(product_slots))):
                raise ValueError(f"the index file gives product {products[number]!r} slots that do not follow on")
            owner[product_slots] = number
            for slot, image in zip(product_slots, product_images):
                keys[slot] = image.encode("utf-8")
        names = sorted({c for c in categories if c is not None})
        codes = {name: code for code, name in enumerate(names)}
        return cls.from_arrays({
            "ids": _encoded(products),
            "first": np.asarray([s[0] for s in slots], dtype=np.int64),
            "count": np.asarray([len(s) for s in slots], dtype=np.int32),
            "category": np.asarray([NO_CATEGORY if c is None else codes[c] for c in categories], dtype=np.int32),
            "owner": owner, "image": np.asarray(keys, dtype=bytes) if keys else _encoded([]),
            "categories": _encoded(names),
        }, next_slot, most_images)
