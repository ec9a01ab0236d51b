"""In-process token buckets: enough to slow password guessing against one service process.

Each key (a username, a client address) gets ``burst`` attempts at once and one more every
``refill_s`` seconds. Buckets that have refilled completely are forgotten, so memory stays
bounded by the keys seen in the last ``burst * refill_s`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from watchkeeper.api.errors import RateLimitedError
from watchkeeper.core.errors import InvalidInputError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class TokenBuckets:
    """Per-key token buckets.

    >>> buckets = TokenBuckets(burst=2, refill_s=60.0, clock=lambda: 0.0)
    >>> buckets.take(["ip:1.2.3.4"]); buckets.take(["ip:1.2.3.4"])
    >>> buckets.retry_after_s("ip:1.2.3.4")
    60.0
    """

    def __init__(
        self, burst: int, refill_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or refill_s <= 0:
            raise InvalidInputError("a token bucket needs burst >= 1 and refill_s > 0")
        self._burst = float(burst)
        self._refill_s = refill_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return self._burst
        return min(self._burst, bucket.tokens + (now - bucket.updated_s) / self._refill_s)

    def retry_after_s(self, key: str) -> float:
        """Seconds until ``key`` has one attempt again (0 when it has one now)."""
        with self._lock:
            level = self._level(key, self._clock())
        return 0.0 if level >= 1.0 else (1.0 - level) * self._refill_s

    def take(self, keys: Iterable[str], what: str = "attempts") -> None:
        """Spend one attempt from every key, or none when any of them is empty.

        Raises:
            RateLimitedError: naming how long to wait.
        """
        with self._lock:
            now = self._clock()
            levels = {key: self._level(key, now) for key in keys}
            empty = [key for key, level in levels.items() if level < 1.0]
            if empty:
                wait_s = max((1.0 - levels[key]) * self._refill_s for key in empty)
                raise RateLimitedError(
                    f"too many {what}; try again in {max(1, round(wait_s))} s", wait_s
                )
            for key, level in levels.items():
                self._buckets[key] = _Bucket(level - 1.0, now)
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        if len(self._buckets) < 1024:
            return
        full = [k for k in self._buckets if self._level(k, now) >= self._burst]
        for key in full:
            del self._buckets[key]
