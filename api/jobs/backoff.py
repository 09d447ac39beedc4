"""When a failed job runs again: exponential backoff with jitter, the store's Retry-After honoured.

Jitter spreads the retries of many jobs that failed together (a store that was down for everyone), so they do
not all come back in the same instant and knock it over again.
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 300.0
    # Twelve tries span 9 to 18 minutes at the defaults (0.5-1 s doubling to the 300 s cap): a store in WordPress's
    # maintenance mode for an update, or restarting, is waited out; with eight (about 2 minutes), an independent
    # store check saw an import survive a 2-minute 503 only on its last try.
    max_attempts: int = 12

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): a uniform draw from the upper half of
        base·2^(attempt-1), capped; never sooner than the store's Retry-After."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        drawn = (rng or random).uniform(ceiling / 2, ceiling)
        return max(drawn, retry_after or 0.0)

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
