"""Report versions, HR's review, and the candidate profiles reports are filed under."""

from __future__ import annotations

import json
from typing import Any

from server.store.base import StoreBase
from server.store.keys import (
    attempt_key,
    key,
    profile_key,
)
from server.store.replies import (
    text_hash,
    text_set,
    text_value,
)


class Reports(StoreBase):
    """Report versions, HR's review, and the candidate profiles reports are filed under."""

    async def append_report(
        self, iv_id: str, sealed: str, fact: dict[str, Any], now: int
    ) -> tuple[int, str]:
        """Keep a new report version (one atomic RPUSH: its version is its place in the
        list) and announce it on the interview's events: (version, event id)."""
        version = int(await self.redis.rpush(key(iv_id, "reports"), sealed))
        fact = {**fact, "version": version}
        event_id = text_value(
            await self.redis.xadd(key(iv_id, "events"), {"e": json.dumps(fact), "t": now})
        )
        return version, event_id or ""

    async def report_entry(
        self, iv_id: str, version: int = 0, attempt: int = 0
    ) -> tuple[int, str | None, str, int]:
        """(how many versions, version ``version``'s sealed record or None, the data key,
        the attempt it belongs to) of the current attempt, or of ``attempt`` kept by a
        reset; ``version`` 0 is the latest."""
        reports = attempt_key(iv_id, attempt, "reports")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.llen(reports)
            pipe.lindex(reports, (version - 1) if version > 0 else -1)
            pipe.hmget(key(iv_id, "meta"), ["dek", "attempt"])
            count, sealed, (dek, current) = await pipe.execute()
        return (
            int(count),
            text_value(sealed),
            text_value(dek) or "",
            attempt or int(text_value(current) or 1),
        )

    async def report_count(self, iv_id: str) -> int:
        return int(await self.redis.llen(key(iv_id, "reports")))

    async def review_fields(self, iv_id: str) -> dict[str, str]:
        """HR's review of the current attempt: dimension | "decision" -> sealed record."""
        return text_hash(await self.redis.hgetall(key(iv_id, "review")))

    async def set_review_field(self, iv_id: str, field: str, sealed: str) -> None:
        await self.redis.hset(key(iv_id, "review"), field, sealed)

    async def profile_interviews(self, org: str, profile: str) -> set[str]:
        """The organisation's interview ids of one candidate profile."""
        return text_set(await self.redis.smembers(profile_key(org, profile)))

    async def file_in_profile(self, iv_id: str, org: str, profile: str) -> None:
        """Put an interview made before profiles existed into its profile (the meta's
        ``profile`` and the set; both harmless to repeat)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key(iv_id, "meta"), "profile", profile)
            pipe.sadd(profile_key(org, profile), iv_id)
            await pipe.execute()
