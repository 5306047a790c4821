"""A token bucket per API token: pure (time is an argument), kept in memory.

Each key may spend ``burst`` requests at once and regains ``rate`` per second. A restart
refills every bucket, which costs a client a restart it cannot cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RateLimiter"]


@dataclass
class RateLimiter:
    rate: float
    """Requests regained per second."""
    burst: int
    """Bucket size."""
    max_keys: int = 10_000
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    """key -> (tokens left, time of the last update)."""

    def take(self, key: int, now: float) -> float:
        """Spend one request of ``key``: 0.0 if allowed, else the seconds until one is regained."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _forget(self, now: float) -> None:
        # A bucket full again carries no information.
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]
