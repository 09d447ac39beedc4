"""A small per-process memory of recent database answers, each kept for a fixed number of seconds.

Used where a value is read on every request but changes rarely (API keys, accounts, a shop's callbacks): a hit
spares a database round trip, which on nx-27017 costs the database about a millisecond of CPU. The process that
changes a value forgets it at once (`forget`, `clear`); another process sees the change within `ttl_s`.

With `refresh_after_s` (shorter than `ttl_s`), `get_many_or_load` also refreshes ahead: a value older than that
is still answered, and reloaded in the background for the requests after. A value read on every request then
never costs one of them a round trip, and another process's change shows within `refresh_after_s` on a busy
process, within `ttl_s` at worst. Only for values where one stale answer is harmless (a product's title), never
for API keys, which must stop working when revoked.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Generic, Hashable, Sequence, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

logger = logging.getLogger(__name__)

# Bounded so that a flood of distinct keys (say, random API keys) cannot grow the memory without end.
DEFAULT_MAX_ENTRIES = 10_000


class _Entry(Generic[V]):
    __slots__ = ("refresh_from", "value")

    def __init__(self, refresh_from: float, value: V) -> None:
        self.refresh_from, self.value = refresh_from, value


class Remembered(Generic[K, V]):
    """Values kept in a `cachetools.TTLCache` (expiry after `ttl_s`, least recently used dropped beyond
    `max_entries`), with what the cache does not do: loading a missing value once per request, refreshing ahead,
    and never remembering a value loaded across a `forget`."""

    def __init__(self, ttl_s: float, *, refresh_after_s: float | None = None, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.refresh_after_s = ttl_s if refresh_after_s is None else min(refresh_after_s, ttl_s)
        self._clock = clock
        self._entries: TTLCache[K, _Entry[V]] = TTLCache(max_entries, ttl_s, timer=clock)
        # Counts forgets and clears: a value loaded before one of them may be stale, and is not remembered.
        self.generation = 0
        self._refreshing: set[K] = set()
        self._refreshes: set[asyncio.Task] = set()

    def get(self, key: K) -> V | None:
        """The remembered value, or None when there is none or it has expired."""
        hit = self._entries.get(key)
        return None if hit is None else hit.value

    def put(self, key: K, value: V, *, loaded_at: int | None = None) -> V:
        """Remember `value` (returned as it is); not when `loaded_at`, the generation read before loading it, is
        no longer current: a key revoked while its lookup was under way must not be remembered as live."""
        if loaded_at is not None and loaded_at != self.generation:
            return value
        self._entries[key] = _Entry(self._clock() + self.refresh_after_s, value)
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
        self, keys: Sequence[K], load_many: Callable[[list[K]], Awaitable[dict[K, V]]], *, refresh_ahead: bool = True
    ) -> dict[K, V]:
        """`get_or_load` for several keys: the remembered values, plus `load_many(the others)` (one call, which
        returns the values it found by key; those are remembered as `get_or_load` remembers). Values due for a
        refresh are answered as they are and reloaded in the background (`refresh_after_s`), unless the caller
        would rather not pay for that (`refresh_ahead=False`: they are then reloaded when they expire)."""
        moment = self._clock()
        found: dict[K, V] = {}
        due: list[K] = []
        for key in keys:
            hit = self._entries.get(key)
            if hit is not None:
                found[key] = hit.value
                if refresh_ahead and hit.refresh_from <= moment and key not in self._refreshing:
                    due.append(key)
        if due:
            self._refresh_later(due, load_many)
        missing = [key for key in keys if key not in found]
        if missing:
            loaded_at = self.generation
            for key, value in (await load_many(missing)).items():
                found[key] = self.put(key, value, loaded_at=loaded_at)
        return found

    def _refresh_later(self, keys: list[K], load_many: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self._refreshing.update(keys)
        loaded_at = self.generation

        async def refresh() -> None:
            try:
                loaded = await load_many(keys)
            except Exception:
                # The old values stay until they expire (then a request loads them itself), and are not tried
                # again before another refresh_after_s: a database that is down is not asked on every request.
                logger.warning("refreshing %d remembered values failed", len(keys), exc_info=True)
                later = self._clock() + self.refresh_after_s
                for key in keys:
                    if (hit := self._entries.get(key)) is not None:
                        hit.refresh_from = later  # in place: its expiry stays as it was
                return
            finally:
                self._refreshing.difference_update(keys)
            for key in keys:
                if key in loaded:
                    self.put(key, loaded[key], loaded_at=loaded_at)
                elif loaded_at == self.generation:
                    self._entries.pop(key, None)  # gone from the database meanwhile

        task = asyncio.get_running_loop().create_task(refresh())
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    async def aclose(self) -> None:
        """Cancel the refreshes under way (at shutdown, before the database client closes)."""
        for task in list(self._refreshes):
            task.cancel()
        if self._refreshes:
            await asyncio.wait(list(self._refreshes))

    def forget(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
