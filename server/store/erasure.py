"""Erasure: one interview shredded and deleted (erase_interview.lua), and what it leaves
outside its own keys forgotten afterwards (server/retention.py drives it).
"""

from __future__ import annotations

import json
from typing import Any

import redis.exceptions

from server.crypto import (
    epoch_of_data_key,
)
from server.store.base import StoreBase
from server.store.keys import (
    ATTEMPT_PARTS,
    TIMERS,
    attempt_key,
    epoch_members_key,
    key,
    log_keys,
    notify_done,
    notify_status,
    org_events,
    person_key,
    profile_key,
)
from server.store.replies import (
    text_rows,
    texts,
)

# the meta field holding an erasure's log entry until every step after its script is done
ERASING = "erasing"
# an erase entry is looked for among this many log entries from a little before the
# erasure's time (hubs' clocks may differ by this much)
ERASE_ENTRY_WITHIN = 1000
ERASE_CLOCK_SKEW_MS = 300_000
# personal fields of the meta removed by an erasure (the data key goes first, separately)
ERASED_FIELDS = (
    "candidate",
    "id_hash",
    "phone_hash",
    "id_masked",
    "phone_masked",
    "token_sha",
    "device",
    "device_id",
    "profile",
)


class Erasure(StoreBase):
    """Erasure of one interview and what it leaves to forget."""

    async def erase(
        self, iv_id: str, meta: dict[str, str], now: int, entry: dict[str, Any]
    ) -> bool:
        """Shred and delete one interview's data (``erase_interview.lua``); False when it
        changed since ``meta`` was read. What is left to do outside its keys, and ``entry``
        (the erasure's log entry), wait in the meta's ERASING (``forget_erased``)."""
        attempts = int(meta.get("attempt", 1))
        parts = [*ATTEMPT_PARTS, "contact", "events", "attempts"]
        keys = [key(iv_id, "meta"), *(key(iv_id, p) for p in parts)]
        for n in range(1, attempts):
            keys += [attempt_key(iv_id, n, p) for p in ("meta", *ATTEMPT_PARTS)]
        left = {
            "entry": entry,
            "org": meta.get("org", "default"),
            "people": [meta[f] for f in ("id_hash", "phone_hash") if meta.get(f)],
            "profile": meta.get("profile", ""),
            "epoch": epoch_of_data_key(meta.get("dek", "")) or "",
        }
        args: list[str | int] = [meta.get("version", ""), now, json.dumps(left), *ERASED_FIELDS]
        done = await self._erase(keys=keys, args=args)
        if not int(done):
            return False
        self.forget_cipher(iv_id)
        return True

    async def forget_erased(self, iv_id: str, left: dict[str, Any]) -> None:
        """What an erasure removes outside the interview's own keys (so not in its script),
        from what ``erase`` left in ERASING; each step harmless to repeat."""
        sent = texts(await self.redis.lrange(key(iv_id, "notifications"), 0, -1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for person in left.get("people", []):
                pipe.srem(person_key(person), iv_id)  # not in the candidate centre
            if left.get("profile"):  # nor in the candidate's file HR sees
                pipe.srem(profile_key(left.get("org", "default"), left["profile"]), iv_id)
            pipe.zrem(TIMERS, iv_id)
            if left.get("epoch"):
                pipe.srem(epoch_members_key(left["epoch"]), iv_id)  # its KEK may go
            for msg_id in sent:  # a delivery error may quote an address
                pipe.delete(notify_status(msg_id), notify_done(msg_id))
            pipe.delete(key(iv_id, "notifications"))
            await pipe.execute()
        await self._forget_org_events(left.get("org", "default"), iv_id)

    async def erasure_logged(self, scope: str, iv_id: str, erased_ms: int) -> bool:
        """Whether the log of ``scope`` holds the erase entry of ``iv_id``'s erasure at
        ``erased_ms`` (an interview is erased once: any such entry is it). Ids never run
        behind their entries' times, so it is among the first entries from a little before
        (another hub's clock may be behind) and only those are read."""
        since = max(erased_ms - ERASE_CLOCK_SKEW_MS, 0)
        rows = text_rows(
            await self.redis.xrange(log_keys(scope)[0], min=f"{since}-0", count=ERASE_ENTRY_WITHIN)
        )
        for _, found in rows:
            entry = json.loads(found.get("e") or "{}")
            if (
                entry.get("action") == "erase"
                and entry.get("outcome") == "ok"
                and entry.get("interview_id", iv_id) == iv_id
            ):
                return True
        return False

    async def set_files_state(self, ids: list[str], state: str, now: int) -> None:
        """Record on erased interviews what became of Redis' files since (``files``)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hset(key(iv_id, "meta"), mapping={"files": state, "files_ms": str(now)})
            await pipe.execute()

    async def erasure_finished(self, iv_id: str) -> None:
        await self.redis.hdel(key(iv_id, "meta"), ERASING)

    async def _forget_org_events(self, org: str, iv_id: str) -> int:
        """The organisation's copies of the interview's events (devices, notes) go too, and
        from Redis' files as well: the part of the stream that held them is written anew
        (forget_org_events.lua). Found page by page first: most erasures (by retention)
        find nothing left, and paging never holds Redis up."""
        stream, after = org_events(org), "-"
        while True:
            rows = text_rows(await self.redis.xrange(stream, min=after, count=1000))
            if not rows:
                return 0
            mine = [rid for rid, f in rows if f.get("iv") == iv_id]
            if mine:
                break
            after = f"({rows[-1][0]}"
        per_node = await self._stream_node_entries()
        return int(
            await self._forget_org_events_script(keys=[stream], args=[iv_id, mine[0], per_node])
        )

    async def _stream_node_entries(self) -> int:
        """Redis' stream-node-max-entries (0 when it will not say: the whole stream is
        written anew). Nodes made before it was lowered may be longer: not covered."""
        try:
            value = (await self.redis.config_get("stream-node-max-entries")).get(
                "stream-node-max-entries"
            )
        except redis.exceptions.ResponseError:
            return 0
        return int(value or 0)
