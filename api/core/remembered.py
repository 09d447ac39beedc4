"""A small per-process memory of recent database answers, each kept for a fixed number of seconds.

Used where a value is read on every request but changes rarely (API keys, accounts, a shop's callbacks): a hit
spares a database round trip, which on nx-27017 costs the database about a millisecond of CPU. The process that
changes a value forgets it at once (`forget`, `clear`); another process sees the change within `ttl_s`.
"""
from __future__ import annotations

import time
from typing import Awaitable, Callable, Generic, Hashable, Sequence, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Bounded so that a flood of distinct keys (say, random API keys) cannot grow the memory without end.
DEFAULT_MAX_ENTRIES = 10_000


class Remembered(Generic[K, V]):
    def __init__(self, ttl_s: float, *, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        # Counts forgets and clears: a value loaded before one of them may be stale, and is not remembered.
        self.generation = 0

    def get(self, key: K) -> V | None:
        """The remembered value, or None when there is none or it has expired."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= self._clock():
            return None
        return hit[1]

    def put(self, key: K, value: V, *, loaded_at: int | None = None) -> V:
        """Remember `value` (returned as it is); not when `loaded_at`, the generation read before loading it, is
        no longer current: a key revoked while its lookup was under way must not be remembered as live."""
        if loaded_at is not None and loaded_at != self.generation:
            return value
        if len(self._entries) >= self.max_entries:
            self._drop_expired()
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # still full of live entries: start over rather than grow
        self._entries[key] = (self._clock() + self.ttl_s, value)
        return value

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The remembered value, or `load()`'s (remembered unless it is None: an absent value is asked for again)."""
        value = self.get(key)
        if value is None:
            loaded_at = self.generation
            value = await load()
            if value is not None:
                self.put(key, value, loaded_at=loaded_at)
        return value

    async def get_many_or_load(
        self, keys: Sequence[K], load_many: Callable[[list[K]], Awaitable[dict[K, V]]]
    ) -> dict[K, V]:
        """`get_or_load` for several keys: the remembered values, plus `load_many(the others)` (one call, which
        returns the values it found by key; those are remembered as `get_or_load` remembers)."""
        found = {key: value for key in keys if (value := self.get(key)) is not None}
        missing = [key for key in keys if key not in found]
        if missing:
            loaded_at = self.generation
            for key, value in (await load_many(missing)).items():
                found[key] = self.put(key, value, loaded_at=loaded_at)
        return found

    def forget(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def _drop_expired(self) -> None:
        moment = self._clock()
        for key in [key for key, (expiry, _) in self._entries.items() if expiry <= moment]:
            del self._entries[key]
