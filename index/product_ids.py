"""Product id ↔ product number for a catalogue index's slots (index/slots.py), in numpy arrays, not a dict.

The ids sit in one sorted numpy bytes array that `np.searchsorted` looks up, beside the number of each and, per
number, its place in that array. A dict of str → int costs about 140 bytes per product with its strings
(docs/benchmarks.md, "Compressed vectors"); these arrays cost the id's bytes and 8. While every id is 24 lowercase
hexadecimal characters (the API's ObjectIds), the array holds their 12 bytes (`as_objectids`: 12 bytes a product less,
the order the same); the first other id turns it back into the ids' UTF-8 for good.

Products are added one at a time (a catch-up follows the API's changes), and inserting one id into a sorted array
moves all after it. So new ids wait in a small dict, `_recent`, and go into the sorted array together once the
dict holds 1/64 of what is sorted (at least MERGE_AT): one pass over the arrays per that many additions. A removed
id is marked in the sorted array (its number GONE) and leaves it at the next merge, or once the marked ones are a
quarter of the array.

An id ending in NUL is refused: a numpy bytes array drops trailing NULs, so "a\\0" could not be told from "a".
Ids widen the array to the longest one held, as the image keys' column does.
"""
from __future__ import annotations

import sys

import numpy as np

GONE = -1  # a removed product's place; a removed id's number in the sorted array until the next merge
MERGE_AT = 1024  # the fewest recent additions and removals worth a pass over the sorted arrays
MERGE_FRACTION = 64  # ... or this fraction of the sorted ids, whichever is more
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
NIBBLE = np.full(256, 16, dtype=np.uint8)  # a character's value as a hexadecimal digit; 16: not one
NIBBLE[HEX] = np.arange(16, dtype=np.uint8)


class ProductIds:
    def __init__(self) -> None:
        self._packed = True  # the sorted ids are 12-byte ObjectIds (else UTF-8)
        self._sorted = np.empty(0, dtype="S12")  # ids of products numbered before `_merged`, sorted
        self._numbers = np.empty(0, dtype=np.int32)  # each sorted id's product number, GONE once removed
        self._place = np.empty(0, dtype=np.int32)  # product number (< _merged) -> its id's index in _sorted, or GONE
        self._merged = 0  # product numbers below this are in the sorted arrays
        self._recent: dict[str, int] = {}  # id -> product number of the held products numbered since
        self._recent_ids: list[str | None] = []  # product number - _merged -> its id; None once removed
        self._stale = 0  # removed ids still in the sorted array
        self._held = 0
        self._set(self._sorted, self._numbers, 0)

    # -- changes -------------------------------------------------------------------------------------------

    def add(self, product_id: str, number: int) -> None:
        """Hold `product_id` (not held) as product `number`, the next number (numbers are never reused)."""
        if product_id.endswith("\0"):
            raise ValueError(f"product id {product_id!r} ends in a NUL character, which the index cannot store")
        assert number == self._merged + len(self._recent_ids), "product numbers are given in order"
        self._recent[product_id] = number
        self._recent_ids.append(product_id)
        self._held += 1
        self._merge_if_due()

    def remove(self, product_id: str) -> int | None:
        """The product's number, now forgotten; None if it was not held."""
        number = self._recent.pop(product_id, None)
        if number is not None:
            self._recent_ids[number - self._merged] = None
        else:
            found = self._find(product_id)
            if found is None:
                return None
            at, number = found
            self._numbers[at] = self._place[number] = GONE
            self._stale += 1
        self._held -= 1
        self._merge_if_due()
        return number

    def _merge_if_due(self) -> None:
        if len(self._recent_ids) >= self._due or self._stale >= self._stale_due:
            self.merge()

    def merge(self) -> None:
        """The recent ids into the sorted array, the removed ones out: one pass (numpy) over the arrays."""
        if not self._recent_ids and not self._stale:
            return
        ids, numbers = self._sorted, self._numbers
        if self._stale:
            live = numbers != GONE
            ids, numbers = ids[live], numbers[live]
        new_ids = np.asarray([product_id.encode("utf-8") for product_id in self._recent], dtype=bytes)
        if self._packed:
            packed = as_objectids(new_ids)
            if packed is None:  # not all ObjectIds: text from now on (the order stays the same)
                self._packed, ids = False, as_text(ids)
            else:
                new_ids = packed
        new_numbers = np.fromiter(self._recent.values(), dtype=np.int32, count=len(self._recent))
        order = np.argsort(new_ids, kind="stable")
        new_ids, new_numbers = new_ids[order], new_numbers[order]
        if new_ids.dtype.itemsize > ids.dtype.itemsize:
            ids = ids.astype(new_ids.dtype)
        at = np.searchsorted(ids, new_ids)
        self._set(np.insert(ids, at, new_ids), np.insert(numbers, at, new_numbers),
                  self._merged + len(self._recent_ids))

    def _set(self, ids: np.ndarray, numbers: np.ndarray, merged: int) -> None:
        self._sorted, self._numbers, self._merged = ids, numbers, merged
        self._place = np.full(merged, GONE, dtype=np.int32)
        self._place[numbers] = np.arange(len(numbers), dtype=np.int32)
        self._recent, self._recent_ids, self._stale = {}, [], 0
        # What makes the next merge: additions, or removed ids (which cost no more than they did held, and leave
        # at the next merge anyway: a quarter of the array, so that removals alone seldom pay for a pass).
        self._due = max(MERGE_AT, len(ids) // MERGE_FRACTION)
        self._stale_due = max(MERGE_AT, len(ids) // 4)
        self._width = 24 if self._packed else ids.dtype.itemsize  # the longest id a lookup may find (its text)

    # -- reading -------------------------------------------------------------------------------------------

    def number(self, product_id: object) -> int | None:
        """The held product's number, or None."""
        number = self._recent.get(product_id)  # type: ignore[call-overload]
        if number is not None or not isinstance(product_id, str):
            return number
        found = self._find(product_id)
        return None if found is None else found[1]

    def _find(self, product_id: str) -> tuple[int, int] | None:
        """(index in the sorted array, number) of a held id, or None. A lookup is a few scalar reads: by `.item`
        and the array's own `searchsorted`, as numpy's module-level function and its scalars cost more."""
        # A key wider than the array would make numpy widen (copy) the whole array to compare; it is not there.
        if len(product_id) > self._width:
            return None
        key = _key(product_id) if self._packed else product_id.encode("utf-8")
        if key is None or len(key) > self._width:
            return None
        at = int(self._sorted.searchsorted(key))
        # `.item` drops trailing NULs: a key ending in one (never held) differs from what it finds.
        if at < len(self._sorted) and self._sorted.item(at) == key:
            number = self._numbers.item(at)
            if number != GONE:
                return at, number
        return None

    def id_of(self, number: int) -> str:
        """The id of a held product's number."""
        if number >= self._merged:
            return self._recent_ids[number - self._merged]  # type: ignore[return-value]
        raw = self._sorted.item(self._place.item(number))
        return raw.ljust(12, b"\0").hex() if self._packed else raw.decode("utf-8")

    def __len__(self) -> int:
        return self._held

    def held_mask(self, numbers: int) -> np.ndarray:
        """Whether each product number below `numbers` (all that were given) is held."""
        held = np.zeros(numbers, dtype=bool)
        held[: self._merged] = self._place != GONE
        held[self._merged :] = [product_id is not None for product_id in self._recent_ids]
        return held

    def held(self) -> list[str]:
        """The held ids, by number (the order they were added in)."""
        return [raw.decode("utf-8") for raw in self._text(self._place[self._place != GONE]).tolist()] + \
            [product_id for product_id in self._recent_ids if product_id is not None]

    def _text(self, places: np.ndarray) -> np.ndarray:
        """The sorted ids at `places` as UTF-8."""
        return as_text(self._sorted[places]) if self._packed else self._sorted[places]

    def nbytes(self) -> int:
        """The arrays, and the recent ids' dict and list with their strings and numbers (sys.getsizeof)."""
        recent = sum(sys.getsizeof(product_id) + sys.getsizeof(number) for product_id, number in self._recent.items())
        return (self._sorted.nbytes + self._numbers.nbytes + self._place.nbytes + sys.getsizeof(self._recent)
                + sys.getsizeof(self._recent_ids) + recent)

    # -- persistence ---------------------------------------------------------------------------------------

    def encoded(self) -> np.ndarray:
        """Every number's id as a numpy bytes array as wide as the longest held id (b"" for a removed product)."""
        numbers = np.flatnonzero(self._place != GONE)
        ids = self._text(self._place[numbers])
        recent = [(number, product_id.encode("utf-8"))
                  for number, product_id in enumerate(self._recent_ids, self._merged) if product_id is not None]
        width = max([1, _width(ids)] + [len(raw) for _, raw in recent])
        encoded = np.zeros(self._merged + len(self._recent_ids), dtype=f"S{width}")
        encoded[numbers] = ids
        for number, raw in recent:
            encoded[number] = raw
        return encoded

    @classmethod
    def from_encoded(cls, ids: np.ndarray, held: np.ndarray) -> "ProductIds":
        """From each number's UTF-8 id (a numpy bytes array) and whether it is held; ValueError on an id held twice."""
        numbers = np.flatnonzero(held).astype(np.int32)
        order = np.argsort(ids[numbers], kind="stable")
        product_ids = cls()
        sorted_ids, numbers = ids[numbers][order], numbers[order]
        twice = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if len(twice):
            raise ValueError(f"the index file holds product {sorted_ids[twice[0]].decode('utf-8')!r} twice")
        packed = as_objectids(sorted_ids)
        product_ids._packed = packed is not None
        product_ids._set(sorted_ids if packed is None else packed, numbers, len(ids))
        product_ids._held = len(numbers)
        return product_ids


def _key(product_id: str) -> bytes | None:
    """An ObjectId's 12 bytes as the packed array gives them back (trailing NULs dropped); None if not one."""
    try:
        raw = bytes.fromhex(product_id)
    except ValueError:
        return None
    return raw.rstrip(b"\0") if len(raw) == 12 and raw.hex() == product_id else None


def as_objectids(ids: np.ndarray) -> np.ndarray | None:
    """Ids of 24 lowercase hexadecimal characters (a numpy bytes array) as their 12 bytes; None if any is not one."""
    if ids.dtype.itemsize != 24:
        return None if len(ids) else np.empty(0, dtype="S12")
    nibbles = NIBBLE[np.ascontiguousarray(ids).view(np.uint8).reshape(-1, 24)]
    if (nibbles == 16).any():
        return None
    return np.ascontiguousarray(nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).view("S12").ravel()


def as_text(packed: np.ndarray) -> np.ndarray:
    """12-byte ids as their 24 hexadecimal characters."""
    raw = np.ascontiguousarray(packed).view(np.uint8).reshape(-1, 12)
    text = np.empty((len(packed), 24), dtype=np.uint8)
    text[:, 0::2], text[:, 1::2] = HEX[raw >> 4], HEX[raw & 15]
    return text.view("S24").ravel()


def _width(ids: np.ndarray) -> int:
    """The longest id's length in bytes (0 when there are none)."""
    return int(np.strings.str_len(ids).max()) if len(ids) else 0
