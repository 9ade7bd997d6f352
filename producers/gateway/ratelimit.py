"""Per-agency request rate limit of the gateway: a token bucket refilled continuously.

One agency's runaway batch job must not starve the others; the answer to a throttled
request says when to retry (``Retry-After``), so well-behaved clients back off exactly.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` requests per agency with bursts up to ``burst`` (default: per_minute)."""

    def __init__(
        self, per_minute: int, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, agency: str, cost: float = 1.0) -> float:
        """0 if allowed (and counted); otherwise the seconds to wait before a retry can succeed."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(agency)
            if bucket is None:
                bucket = self._buckets[agency] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))
