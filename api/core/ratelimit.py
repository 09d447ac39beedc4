"""Per-credential rate limiting: a token bucket per API key (or console session), kept in this process.

One bucket per credential: `burst` requests at once, refilled at `per_minute`. A refused request learns how
many seconds until the next token (the Retry-After header). Several API processes would each keep their own
buckets; a shared limit across replicas belongs in the load balancer or Redis, not here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass


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

    def acquire(self, credential: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait before retrying."""
        now = self._clock()
        bucket = self._buckets.get(credential)
        if bucket is None:
            bucket = self._buckets[credential] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))
