"""Failed identity checks, failures per address and refusals during a lock-out."""

from __future__ import annotations

from server.store.base import StoreBase
from server.store.keys import (
    REFUSAL_SUMS,
    ip_failures_key,
    key,
)
from server.store.replies import (
    texts,
)

REFUSAL_ADDRESSES = 10  # addresses a summary of unlogged refusals names, at most
REFUSALS_KEPT_S = 7 * 86400  # unlogged refusal counts no sweeper summed up by then go


class Lockouts(StoreBase):
    """Failed identity checks, failures per address and refusals during a lock-out."""

    async def count_failed_identity(self, iv_id: str, lockout_s: int) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key(iv_id, "attempts"))
            pipe.expire(key(iv_id, "attempts"), lockout_s)
            count, _ = await pipe.execute()
        return int(count)

    async def clear_failed_identity(self, iv_id: str) -> None:
        await self.redis.delete(key(iv_id, "attempts"))

    async def ip_failures(self, kind: str, ip: str) -> int:
        """Failed checks of ``kind`` ("identity", "login") from one address, this window."""
        return int(await self.redis.get(ip_failures_key(kind, ip)) or 0)

    async def count_ip_failure(self, kind: str, ip: str, window_s: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(ip_failures_key(kind, ip))
            pipe.expire(ip_failures_key(kind, ip), window_s)
            await pipe.execute()

    async def refusal_to_log(
        self, iv_id: str, reason: str, ip: str, now: int, interval_ms: int
    ) -> bool:
        """Whether a refusal during a lock-out goes to the logs one by one: the first of each
        ``interval_ms`` of the interview does (True); the others are counted, by reason
        and with a few of their addresses, for the summary the sweeper writes once the
        interval is over (``take_unlogged_refusals``)."""
        if await self.redis.set(key(iv_id, "refusalbrake"), now, nx=True, px=interval_ms):
            return True
        counts, addresses = key(iv_id, "refusals"), key(iv_id, "refusaladdrs")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(counts, f"n:{reason}", 1)
            pipe.hsetnx(counts, "first_ms", now)
            pipe.hset(counts, "last_ms", now)
            pipe.expire(counts, REFUSALS_KEPT_S)
            if ip:  # the newest few say where from; a botnet's every address would not fit
                pipe.zadd(addresses, {ip: now})
                pipe.zremrangebyrank(addresses, 0, -REFUSAL_ADDRESSES - 1)
                pipe.expire(addresses, REFUSALS_KEPT_S)
            await pipe.execute()
        # after the count: a summary taken meanwhile has it, or this schedules the next
        await self.redis.zadd(REFUSAL_SUMS, {iv_id: now + interval_ms}, nx=True)
        return False

    async def unlogged_refusals_due(self, now: int, limit: int = 100) -> list[str]:
        """Interviews whose unlogged refusals are due to be summed up."""
        return texts(await self.redis.zrangebyscore(REFUSAL_SUMS, 0, now, start=0, num=limit))

    async def take_unlogged_refusals(self, iv_id: str) -> tuple[dict[str, str], list[str]]:
        """The interview's unlogged refusal counts and their newest addresses, taken at
        once (({}, []): none); those counted from now on are summed up next time."""
        await self.redis.zrem(REFUSAL_SUMS, iv_id)  # first: a later count schedules anew
        counts, addresses = key(iv_id, "refusals"), key(iv_id, "refusaladdrs")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(counts)
            pipe.zrange(addresses, 0, -1)
            pipe.delete(counts, addresses)
            taken, where, _ = await pipe.execute()
        return dict(taken), sorted(where)
