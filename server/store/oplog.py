"""The operation logs: appended here, sealed by server/audit.py, anchored by server/anchors.py.

One appender task per log and process batches what is queued (LOG_BATCH entries a
script call). The personal parts of an entry (the masked identity proof, HR's note on an
end) are sealed with the interview's data key: the log is append-only and MAC-chained, so
what is written there stays, readable while the interview is, gone with its erasure.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

from server import audit
from server.audit import Head
from server.store.base import UNREADABLE, StoreBase
from server.store.keys import (
    LOG_PATTERNS,
    key,
    log_call_key,
    log_keys,
    log_scope,
    org_log_keys,
    scope_of_log,
)
from server.store.replies import (
    text_rows,
    text_value,
)

LOG_HEAD_CACHE = 4096  # logs whose head a process remembers from its own last append
LOG_BATCH = 100  # operation-log entries appended by one script call
LOG_RETRIES = 50  # compare-and-set tries of one append before giving up
# how long a log's head remembers the (random) token of the call that moved it: a call resent
# after a lost reply (RETRIES, each within a second or so) is known as applied by it
LOG_CALL_KEPT_MS = 60_000


class LogConflict(Exception):
    """An operation-log append kept finding the head moved (or the stream's ids ahead)."""


class OperationLogs(StoreBase):
    """The operation logs: appended, with their personal fields sealed."""

    async def log(self, iv_id: str, entry: dict[str, Any], now: int) -> None:
        """Append one operation-log entry that changes no state (a refusal, a login...)."""
        await self._append_log(log_scope(iv_id), audit.body(entry), now)

    async def log_org(self, org: str, entry: dict[str, Any], now: int) -> None:
        """The organisation's copy of an operation-log entry (and HR-only ones: login...)."""
        await self._append_log(log_scope(org=org), audit.body(entry), now)

    async def _append_log(self, scope: str, body: str, now: int) -> None:
        """Queue the entry for its log's appender task and wait until it is written.

        One task per log and process appends whatever is queued, up to LOG_BATCH entries
        a call: an organisation's log, which every interview appends to, costs one round
        trip per batch instead of contending per entry, and a caller that is cancelled
        does not cancel the others' entries."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._log_queues.setdefault(scope, []).append((body, now, done))
        if scope not in self._log_appenders:
            self._log_appenders[scope] = asyncio.create_task(self._run_log_appender(scope))
        await done  # a cancelled caller's entry is still written; it just stops waiting

    async def _run_log_appender(self, scope: str) -> None:
        queue = self._log_queues[scope]
        batch: list[tuple[str, int, asyncio.Future[None]]] = []
        try:
            while queue:
                batch = queue[:LOG_BATCH]
                del queue[: len(batch)]
                try:
                    await self._append_batch(scope, [(b, t) for b, t, _ in batch])
                except Exception as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for *_, done in batch:
                        if not done.done():
                            done.set_result(None)
                batch = []
        finally:
            # nothing can be queued between the loop's last check and here (no await)
            for *_, done in batch + queue:
                if not done.done():
                    done.set_exception(RuntimeError("the operation-log append was interrupted"))
            del self._log_appenders[scope]
            del self._log_queues[scope]

    async def _append_batch(self, scope: str, entries: Sequence[tuple[str, int]]) -> None:
        """Seal ``entries`` after the head this process last wrote (when another process
        wrote since, the script answers with the current head: seal again)."""
        head = self._log_heads.get(scope, Head())
        for _ in range(LOG_RETRIES):
            sealed, new_head = audit.seal(
                self.log_key, scope, head, entries, self._log_floor.get(scope, "0-0")
            )
            # the token tells this call's resend (after a lost reply) from another hub's
            # call that makes the same new head: the same entries at the same millisecond
            args: list[Any] = [head.raw, new_head.raw, secrets.token_hex(16), LOG_CALL_KEPT_MS]
            for entry in sealed:
                args += entry.fields()
            keys = [*log_keys(scope), log_call_key(scope)]
            result = await self._append_log_script(keys=keys, args=args)
            if int(result[0]) == 1:
                self._log_appended(scope, new_head)
                return
            head = Head.decode(result[1])
            if audit.later_id(str(result[2]), head.id) != head.id:
                self._log_floor[scope] = str(result[2])  # someone wrote ids past the head
        raise LogConflict(f"appending to the {scope} log: its head kept moving")

    async def _read_log_head(self, scope: str) -> Head:
        return Head.decode(text_value(await self.redis.get(log_keys(scope)[1])))

    def _log_appended(self, scope: str, head: Head) -> None:
        if len(self._log_heads) >= LOG_HEAD_CACHE and scope not in self._log_heads:
            self._log_heads.pop(next(iter(self._log_heads)))
        self._log_heads[scope] = head
        known = self._unanchored.get(scope)
        if known is None or head.n > known.n:
            self._unanchored[scope] = head

    def take_unanchored(self) -> dict[str, Head]:
        """The newest head of every log appended to since the last call (to checkpoint)."""
        taken, self._unanchored = self._unanchored, {}
        return taken

    def give_back_unanchored(self, heads: dict[str, Head]) -> None:
        """Heads that could not be anchored: the next round takes them (or newer ones)."""
        for scope, head in heads.items():
            known = self._unanchored.get(scope)
            if known is None or head.n > known.n:
                self._unanchored[scope] = head

    async def log_chain(self, scope: str) -> tuple[list[dict[str, str]], str | None]:
        """Every entry of a log as stored, and its head: for verifying and export."""
        stream, head_key = log_keys(scope)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrange(stream)
            pipe.get(head_key)
            rows, head = await pipe.execute()
        return [{"id": rid, **fields} for rid, fields in rows], head

    async def log_scopes(self) -> list[str]:
        """Every log in Redis (interviews' and organisations'), by scope."""
        scopes = []
        for pattern, kind in LOG_PATTERNS:
            async for name in self.redis.scan_iter(match=pattern, count=1000):
                scope = scope_of_log(name, kind)
                if scope:  # not some other key that happens to end in ":log"
                    scopes.append(scope)
        return sorted(set(scopes))

    async def oplog(self, iv_id: str) -> list[dict[str, Any]]:
        rows = text_rows(await self.redis.xrange(key(iv_id, "log")))
        entries = [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]
        return await self.open_personal(entries, iv_id)

    async def org_log(self, org: str, after: str = "-", count: int = 1000) -> list[dict[str, Any]]:
        """The newest ``count`` entries at or after ``after``, oldest first."""
        rows = text_rows(await self.redis.xrevrange(org_log_keys(org)[0], min=after, count=count))
        rows.reverse()
        entries = [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]
        return await self.open_personal(entries)

    def seal_personal(self, iv_id: str, dek: str, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` with its personal fields (``proof``, ``detail.note``) sealed under the
        interview's data key (``sealed``); dropped when the interview has no key left."""
        personal: dict[str, str] = {}
        if entry.get("proof"):
            personal["proof"] = str(entry.pop("proof"))
        else:
            entry.pop("proof", None)
        detail = entry.get("detail")
        if isinstance(detail, dict) and detail.get("note"):
            personal["note"] = str(detail["note"])
            entry["detail"] = {k: v for k, v in detail.items() if k != "note"}
        if not personal or not dek:
            return entry
        try:
            cipher = self.cipher_for(iv_id, dek)
        except UNREADABLE:
            return entry
        entry["sealed"] = {k: cipher.seal_text(f"log|{k}", v) for k, v in personal.items()}
        return entry

    async def seal_personal_now(self, iv_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        dek = text_value(await self.redis.hget(key(iv_id, "meta"), "dek")) or ""
        return self.seal_personal(iv_id, dek, entry)

    async def open_personal(
        self, entries: list[dict[str, Any]], iv_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries as read, with their sealed personal fields opened (each entry's own
        interview, or ``iv_id``); after an erasure they are marked ``"erased"``."""
        deks: dict[str, str] = {}
        for entry in entries:
            sealed = entry.pop("sealed", None)
            if not isinstance(sealed, dict):
                continue
            owner = iv_id or str(entry.get("interview_id", ""))
            if owner not in deks:
                deks[owner] = text_value(await self.redis.hget(key(owner, "meta"), "dek")) or ""
            for field, value in sealed.items():
                try:
                    cipher = self.cipher_for(owner, deks[owner])
                    opened = cipher.open_text(f"log|{field}", str(value))
                except UNREADABLE:
                    opened = "[erased]" if not deks[owner] else "[unreadable]"
                if field == "note":
                    entry["detail"] = {**(entry.get("detail") or {}), "note": opened}
                else:
                    entry[field] = opened
        return entries
