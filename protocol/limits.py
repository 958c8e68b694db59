"""Rate limits as pure arithmetic: a token bucket that is told the time, never reads it.

The hub keeps one bucket of commands per socket and one of chunks (count and bytes) per
interview; what it does when a bucket is empty (refuse a command, stop reading chunks for
a while) is the hub's business, how much is allowed and when is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; full at the start."""

    rate: float
    burst: float
    tokens: float | None = None  # None: not used yet (full); below 0: a debt (owe)
    at: float = 0.0  # when ``tokens`` was last brought up to date (seconds, any clock)

    def _refill(self, now: float) -> float:
        if self.tokens is None:
            self.tokens, self.at = self.burst, now
        elif now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
        return self.tokens

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are that many; False (nothing spent) if not."""
        tokens = self._refill(now)
        if tokens < cost:
            return False
        self.tokens = tokens - cost
        return True

    def owe(self, now: float, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens even if that leaves a debt; return how many seconds the
        debt takes to clear (0.0: none). A cost above the burst is charged as the burst,
        so one large item is never refused for good. A rate of 0 means no limit."""
        if self.rate <= 0:
            return 0.0
        tokens = self._refill(now) - min(cost, self.burst)
        self.tokens = tokens
        return 0.0 if tokens >= 0 else -tokens / self.rate


__all__ = ["TokenBucket"]
