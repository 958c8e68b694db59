"""Log lines that anyone on the network can cause at will (a refused handshake, a garbled or
abandoned request): each is a DEBUG line, and their counts go out at most once a minute,
so an outsider cannot flood the log or bury what matters in it."""

from __future__ import annotations

import logging
import time
from collections import Counter

SUMMARY_INTERVAL_S = 60.0


class NoisyEvents:
    """Counts of things outsiders can cause as often as they like: one line with the counts
    at most every ``interval_s`` (each event itself is a DEBUG line)."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        level: int = logging.WARNING,
        interval_s: float = SUMMARY_INTERVAL_S,
    ) -> None:
        self.logger = logger
        self.what = what
        self.level = level
        self.interval_s = interval_s
        self.counts: Counter[str] = Counter()
        self._last = float("-inf")

    def note(self, kind: str, detail: str = "") -> None:
        self.logger.debug("%s: %s %s", self.what, kind, detail)
        self.counts[kind] += 1
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            summary = ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items()))
            last = f"; the last: {kind} {detail}" if detail else ""
            self.logger.log(self.level, "%s (since the last note): %s%s", self.what, summary, last)
            self.counts.clear()


__all__ = ["NoisyEvents"]
