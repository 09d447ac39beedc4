"""Rate limiting per shop: every API key and console session of one account draw on the account's one bucket
(api/deps.py passes the account id), so making more keys or logging in again buys no more requests. In this process,
or shared by every replica.

`RateLimiter` (KALAS_LIMITS_STORE=process, the default): a token bucket per account in this process, `burst`
requests at once, refilled at `per_minute`. With several replicas each keeps its own buckets, so a client spread
over n replicas gets n times the limit.
`SharedRateLimiter` (KALAS_LIMITS_STORE=database): fixed windows of `burst / rate` seconds (6 s at the defaults),
each allowing `burst` requests, counted in the database with one `$inc` per request (api/data/limits.py): the
same average rate, at most 2 × burst across a window's edge, whichever replica a request reaches. It costs one
database round trip per authenticated request (measured in docs/benchmarks.md, "Shared limits").
A refused request learns how many seconds to wait (the Retry-After header).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from api.data import limits


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, clock=time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, account: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait before retrying."""
        now = self._clock()
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    async def take(self, account: str) -> float:
        return self.acquire(account)

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))


class SharedRateLimiter(RateLimiter):
    def __init__(self, db: AsyncDatabase, per_minute: int, burst: int, clock=time.time) -> None:
        super().__init__(per_minute, burst, clock)
        self.db = db
        self.window_s = self.burst / self.rate

    async def take(self, account: str) -> float:
        """0 when the request may go ahead; otherwise the seconds until this bucket's window ends."""
        now = self._clock()
        window = math.floor(now / self.window_s)
        ends = (window + 1) * self.window_s
        used = await limits.count(self.db, f"rate:{account}:{window}", keep_until_s=ends + 60)
        return 0.0 if used <= self.burst else ends - now
