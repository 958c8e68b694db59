"""The notification outbox (server/notify.py: notifications and ATS webhook deliveries)."""

from __future__ import annotations

import json
from typing import Any

import redis.exceptions

from server.store.base import StoreBase
from server.store.keys import (
    NOTIFY_OUTBOX,
    NOTIFY_RETRY,
    NOTIFY_SENDERS,
    TRANSCRIBE_DEAD,
    TRANSCRIBE_JOBS,
    TRANSCRIBE_LATER,
    key,
    notify_done,
    notify_status,
)
from server.store.replies import (
    text_streams,
    text_value,
    texts,
)

NOTIFY_STATUS_TTL_S = 90 * 24 * 3600  # how long HR can see a notification's delivery state


class NotificationOutbox(StoreBase):
    """The notification outbox (server/notify.py: notifications and ATS webhook deliveries)."""

    async def queue_notification(
        self, iv_id: str, status: dict[str, Any], sealed: str | None
    ) -> None:
        """Record a notification's state (listed with the interview) and, unless it failed
        before it could be queued (``sealed`` None), put it on the outbox."""
        msg_id = status["id"]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(notify_status(msg_id), json.dumps(status), ex=NOTIFY_STATUS_TTL_S)
            pipe.rpush(key(iv_id, "notifications"), msg_id)
            if sealed is not None:
                pipe.xadd(NOTIFY_OUTBOX, {"m": sealed})
            await pipe.execute()

    async def notification_statuses(self, iv_id: str) -> list[dict[str, Any]]:
        ids = texts(await self.redis.lrange(key(iv_id, "notifications"), 0, -1))
        raw = await self.redis.mget([notify_status(i) for i in ids]) if ids else []
        return [json.loads(r) for r in raw if r]

    async def notification_status(self, msg_id: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            text_value(await self.redis.get(notify_status(msg_id))) or "{}"
        )
        return loaded

    async def set_notification_status(self, msg_id: str, status: dict[str, Any]) -> None:
        await self.redis.set(notify_status(msg_id), json.dumps(status), ex=NOTIFY_STATUS_TTL_S)

    async def notification_sent(self, msg_id: str) -> bool:
        """Whether its provider accepted it before (then it is never sent again)."""
        return bool(await self.redis.exists(notify_done(msg_id)))

    async def outbox_group(self) -> None:
        """The senders' consumer group (made once; BUSYGROUP when another hub made it)."""
        try:
            await self.redis.xgroup_create(NOTIFY_OUTBOX, NOTIFY_SENDERS, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def outbox_read(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, str]]:
        """New outbox entries for ``consumer``: (entry id, sealed message)."""
        batch = await self.redis.xreadgroup(
            NOTIFY_SENDERS, consumer, {NOTIFY_OUTBOX: ">"}, count=count, block=block_ms
        )
        return [(eid, f["m"]) for _, entries in text_streams(batch) for eid, f in entries]

    async def outbox_claim_stale(
        self, consumer: str, idle_ms: int, count: int
    ) -> list[tuple[str, str]]:
        """Entries a dead sender had claimed and not acknowledged for ``idle_ms``."""
        result = await self.redis.xautoclaim(
            NOTIFY_OUTBOX,
            NOTIFY_SENDERS,
            consumer,
            min_idle_time=idle_ms,
            start_id="0-0",
            count=count,
        )
        rows = result[1] if len(result) > 1 else []
        return [(str(eid), str(f["m"])) for eid, f in rows if f]

    async def outbox_retry_later(self, sealed: str, due_ms: int) -> None:
        await self.redis.zadd(NOTIFY_RETRY, {sealed: due_ms})

    async def outbox_release_due(self, now_ms: int, count: int = 50) -> None:
        """Put retries whose back-off is over back on the outbox (each by one hub only)."""
        for raw in texts(await self.redis.zrangebyscore(NOTIFY_RETRY, 0, now_ms, 0, count)):
            if await self.redis.zrem(NOTIFY_RETRY, raw):
                await self.redis.xadd(NOTIFY_OUTBOX, {"m": raw})

    async def outbox_done(self, entry_id: str) -> None:
        """Acknowledge and delete an entry (it holds a link and contact data)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(NOTIFY_OUTBOX, NOTIFY_SENDERS, entry_id)
            pipe.xdel(NOTIFY_OUTBOX, entry_id)
            await pipe.execute()

    async def outbox_sent(self, entry_id: str, status: dict[str, Any]) -> None:
        """Its provider accepted it: marked sent (never again), state kept, entry gone, in
        one transaction."""
        msg_id = status["id"]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(notify_done(msg_id), "1", ex=NOTIFY_STATUS_TTL_S)
            pipe.set(notify_status(msg_id), json.dumps(status), ex=NOTIFY_STATUS_TTL_S)
            pipe.xack(NOTIFY_OUTBOX, NOTIFY_SENDERS, entry_id)
            pipe.xdel(NOTIFY_OUTBOX, entry_id)
            await pipe.execute()

    # --- for /metrics (server/metrics.py) -------------------------------------------------

    async def queue_depths(self) -> dict[str, int]:
        """Entries waiting in the shared queues, read in one round trip: notifications (and
        ATS webhooks) queued or being sent, and waiting for a retry; transcription jobs
        queued or being worked on, waiting until due, and given up."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(NOTIFY_OUTBOX)
            pipe.zcard(NOTIFY_RETRY)
            pipe.xlen(TRANSCRIBE_JOBS)
            pipe.zcard(TRANSCRIBE_LATER)
            pipe.xlen(TRANSCRIBE_DEAD)
            depths = await pipe.execute()
        names = (
            "notifications",
            "notification_retries",
            "transcriptions",
            "transcriptions_waiting",
            "transcriptions_given_up",
        )
        return {name: int(depth) for name, depth in zip(names, depths, strict=True)}
