"""Throttled guessing of credentials (OWASP's authentication guidance): growing delays, never a lock-out.

Failed attempts are counted per key for FORGET_S: an account *as tried from* an address (FREE failures free), and a
client address as a whole (ADDRESS_FREE: an office behind one address mistypes more than one person). Past its
free failures each further one makes the key wait twice as long before its next try (1 s, 2 s, 4 s, … at most
CAP_S), answered 429 with Retry-After. Only guesses count: wrong passwords and unknown API keys, not a session that
expired (its token was issued by us, not guessed). Keying an account by the address that guesses
means an attacker elsewhere cannot keep the real owner out: the owner's own address has its own count. A success
clears the account's count from that address.

`GuessThrottle` keeps the counts in this process (a TTLCache, bounded): with several API replicas each counts what
it sees, so an attacker spread over them gets a few more free tries per replica, never unthrottled ones.
`SharedGuessThrottle` (KALAS_LIMITS_STORE=database) keeps them in the database (api/data/limits.py), one count
whichever replica a guess reaches; it costs a query per login and per unknown key, never per good request.
Routes call the async methods (`check`, `record_failure`, `record_success`), which both answer.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from cachetools import TTLCache
from pymongo.asynchronous.database import AsyncDatabase

from api.data import limits

FREE = 5
ADDRESS_FREE = 20
BASE_S = 1.0
CAP_S = 900.0
FORGET_S = 3600.0
MAX_KEYS = 100_000


class GuessThrottle:
    def __init__(self, *, free: int = FREE, base_s: float = BASE_S, cap_s: float = CAP_S, forget_s: float = FORGET_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.base_s, self.cap_s = free, base_s, cap_s
        self._clock = clock
        self._failures: TTLCache[str, tuple[int, float]] = TTLCache(MAX_KEYS, forget_s, timer=clock)  # key -> (n, until)

    def wait(self, *keys: str) -> float:
        """Seconds before any of `keys` may try again (0: now)."""
        moment = self._clock()
        return max([0.0] + [until - moment for _, until in filter(None, map(self._failures.get, keys))])

    def failed(self, *keys: str) -> None:
        moment = self._clock()
        for key in keys:
            count = self._failures.get(key, (0, 0.0))[0] + 1
            self._failures[key] = (count, moment + self.delay(count))

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def delay(self, count: int) -> float:
        """How long a key waits after its `count`-th failure."""
        return 0.0 if count <= self.free else min(self.cap_s, self.base_s * 2 ** (count - self.free - 1))

    async def check(self, *keys: str) -> float:
        return self.wait(*keys)

    async def record_failure(self, *keys: str) -> None:
        self.failed(*keys)

    async def record_success(self, key: str) -> None:
        self.succeeded(key)


class SharedGuessThrottle(GuessThrottle):
    """The same counts and delays, in the database: every replica sees every failure."""

    def __init__(self, db: AsyncDatabase, *, free: int = FREE, clock: Callable[[], float] = time.time,
                 forget_s: float = FORGET_S) -> None:
        super().__init__(free=free, clock=clock, forget_s=forget_s)
        self.db, self.forget_s = db, forget_s

    async def check(self, *keys: str) -> float:
        moment = self._clock()
        return max([0.0] + [until - moment for until in await limits.held_until(self.db, [f"guess:{k}" for k in keys])])

    async def record_failure(self, *keys: str) -> None:
        moment = self._clock()
        for key in keys:
            count = await limits.count(self.db, f"guess:{key}", keep_until_s=moment + self.forget_s)
            await limits.hold_until(self.db, f"guess:{key}", moment + self.delay(count), keep_s=self.forget_s)

    async def record_success(self, key: str) -> None:
        await limits.clear(self.db, f"guess:{key}")


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
