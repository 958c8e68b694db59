"""Interviews: made, changed by the state machine's decisions, and read back."""

from __future__ import annotations

import json
import secrets
from typing import Any

from protocol.interview import Decision, Snapshot
from server import audit
from server.audit import Head
from server.crypto import (
    epoch_of_data_key,
)
from server.store.keys import (
    ATTEMPT_PARTS,
    INTERVIEWS,
    TIMERS,
    attempt_key,
    epoch_members_key,
    key,
    log_call_key,
    log_keys,
    log_scope,
    org_interviews,
    person_key,
    profile_key,
)
from server.store.oplog import LOG_CALL_KEPT_MS, OperationLogs
from server.store.records import (
    changed_fields,
    snapshot_from_hash,
    snapshot_to_hash,
    time_ms,
)
from server.store.replies import (
    as_fields,
    text_hash,
    text_rows,
    text_set,
    text_value,
    texts,
)


class Interviews(OperationLogs):
    """Interviews: made, changed by the state machine's decisions, and read back."""

    async def create(
        self, iv_id: str, snap: Snapshot, static: dict[str, str], person_hashes: list[str], now: int
    ) -> None:
        mapping = {**static, **snapshot_to_hash(snap), "created_ms": str(now)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key(iv_id, "meta"), mapping=as_fields(mapping))
            pipe.zadd(INTERVIEWS, {iv_id: now})
            pipe.zadd(org_interviews(static["org"]), {iv_id: now})
            for h in person_hashes:
                pipe.sadd(person_key(h), iv_id)
            if static.get("profile"):
                pipe.sadd(profile_key(static["org"], static["profile"]), iv_id)
            epoch = epoch_of_data_key(static.get("dek", ""))
            if epoch:
                pipe.sadd(epoch_members_key(epoch), iv_id)  # keeps the month's KEK alive
            created = {"kind": "created"}
            pipe.xadd(key(iv_id, "events"), {"e": json.dumps(created), "t": now})
            *_, event_id = await pipe.execute()
        # so a console watching the organisation sees the new interview at once
        await self.org_event(static["org"], iv_id, [event_id], [created], now)

    async def apply(
        self,
        iv_id: str,
        old: Snapshot,
        decision: Decision,
        now: int,
        *,
        extra_meta: dict[str, str] | None = None,
        log: list[dict[str, Any]] | None = None,
        log_head: Head | None = None,
        archive_attempt: int = 0,
    ) -> list[str] | None:
        """Apply ``decision`` if the interview is still at ``old.version``, with its
        operation-log entries ``log`` chained after ``log_head`` (as read with ``old``).

        Returns the ids of the events written, or None when someone changed the
        interview or its log first (the caller re-reads and decides again).
        """
        meta = changed_fields(old, decision.snapshot)
        meta.update(extra_meta or {})
        answers = {
            str(f["q"]): json.dumps({k: v for k, v in f.items() if k != "kind"})
            for f in decision.facts
            if f["kind"] == "answer_closed"
        }
        scope = log_scope(iv_id)
        head = log_head or (await self._read_log_head(scope) if log else Head())
        sealed, new_head = audit.seal(
            self.log_key,
            scope,
            head,
            [(audit.body(e), now) for e in log or []],
            self._log_floor.get(scope, "0-0"),
        )
        args: list[Any] = [old.version, now, self.events_maxlen, head.raw, new_head.raw]
        args += [secrets.token_hex(16), LOG_CALL_KEPT_MS, len(meta)]
        for k, v in meta.items():
            args += [k, v]
        args.append(len(answers))
        for k, v in answers.items():
            args += [k, v]
        args.append(len(decision.facts))
        args += [json.dumps(f, separators=(",", ":")) for f in decision.facts]
        args.append(len(sealed))
        for entry in sealed:
            args += entry.fields()
        keys = [
            key(iv_id, "meta"),
            key(iv_id, "answers"),
            key(iv_id, "events"),
            *log_keys(scope),
            log_call_key(scope),
        ]
        if archive_attempt:
            # before the change: the finished attempt's meta, answers and chunks move aside
            keys.append(attempt_key(iv_id, archive_attempt, "meta"))
            for part in ATTEMPT_PARTS:
                keys += [key(iv_id, part), attempt_key(iv_id, archive_attempt, part)]
        result = await self._apply(keys=keys, args=args)
        if int(result[0]) == 2:
            self._log_floor[scope] = str(result[1])  # someone wrote ids past the head
        if int(result[0]) != 1:
            return None
        if sealed:
            self._log_appended(scope, new_head)
        return [str(x) for x in result[2:]]

    async def after_apply(
        self,
        org: str,
        iv_id: str,
        entry: dict[str, Any],
        ids: list[str],
        facts: Any,
        now: int,
        deadline: int,
    ) -> None:
        """What follows an applied change: the organisation's chained copy of the log entry,
        then (in one round trip) its copies of the events and the timer for the next timeout."""
        await self.log_org(org, entry, now)
        async with self.redis.pipeline(transaction=False) as pipe:
            self._mirror_events(pipe, org, iv_id, ids, facts, now)
            if deadline:
                pipe.zadd(TIMERS, {iv_id: deadline})
            else:
                pipe.zrem(TIMERS, iv_id)
            await pipe.execute()

    async def snapshot_and_log_head(
        self, iv_id: str
    ) -> tuple[Snapshot, dict[str, str], Head] | None:
        """The snapshot and the head of the interview's log, in one round trip: a decision's
        log entry is chained to that head, and ``apply`` checks both."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key(iv_id, "meta"))
            pipe.get(key(iv_id, "loghead"))
            h, head = await pipe.execute()
        return (snapshot_from_hash(h), h, Head.decode(head)) if h else None

    async def attempt_meta(self, iv_id: str, attempt: int) -> dict[str, str]:
        """The meta an attempt kept by a reset had when it was archived (with ``id``)."""
        meta = text_hash(await self.redis.hgetall(attempt_key(iv_id, attempt, "meta")))
        return {**meta, "id": iv_id} if meta else {}

    async def answers(self, iv_id: str, attempt: str = "") -> dict[int, dict[str, Any]]:
        number = int(attempt[1:]) if attempt else 0
        raw = await self.redis.hgetall(attempt_key(iv_id, number, "answers"))
        return {int(q): json.loads(v) for q, v in raw.items()}

    async def events(
        self, iv_id: str, after: str = "-", count: int | None = None
    ) -> list[dict[str, Any]]:
        start = "-" if after == "-" else f"({after}"
        rows = text_rows(await self.redis.xrange(key(iv_id, "events"), min=start, count=count))
        return [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]

    async def add_event(self, iv_id: str, fact: dict[str, Any]) -> None:
        """An event that is not a state change (e.g. the media's), for monitors."""
        now = time_ms()
        event_id = text_value(
            await self.redis.xadd(
                key(iv_id, "events"),
                {"e": json.dumps(fact), "t": now},
                maxlen=self.events_maxlen,
                approximate=True,
            )
        )
        org = text_value(await self.redis.hget(key(iv_id, "meta"), "org")) or "default"
        await self.org_event(org, iv_id, [event_id], [fact], now)

    async def contact(self, iv_id: str) -> dict[str, str]:
        """How to reach the candidate: lang, and the sealed phone and e-mail."""
        return text_hash(await self.redis.hgetall(key(iv_id, "contact")))

    async def set_contact(self, iv_id: str, contact: dict[str, str]) -> None:
        await self.redis.hset(key(iv_id, "contact"), mapping=as_fields(contact))

    async def contact_lang(self, iv_id: str) -> str:
        """The candidate's language (zh-CN unless the invitation said)."""
        return text_value(await self.redis.hget(key(iv_id, "contact"), "lang")) or "zh-CN"

    async def language(self, iv_id: str) -> str:
        """The interview's language (zh-CN, en), kept with the contact details."""
        return str(await self.redis.hget(key(iv_id, "contact"), "lang") or "")

    async def person_interviews(self, person_hash: str) -> set[str]:
        return text_set(await self.redis.smembers(person_key(person_hash)))

    async def states_and_sessions(self, ids: list[str]) -> list[tuple[str | None, str | None]]:
        """Each interview's state and the session holding it (None: not set), in one round
        trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hmget(key(iv_id, "meta"), ["state", "session"])
            rows = await pipe.execute()
        return [(text_value(state), text_value(session)) for state, session in rows]

    async def sessions_of(self, ids: list[str]) -> list[str]:
        """The session holding each interview now ("" when nobody holds it)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hget(key(iv_id, "meta"), "session")
            return [s or "" for s in await pipe.execute()]

    async def schedule(self, iv_id: str, at_ms: int) -> None:
        if at_ms:
            await self.redis.zadd(TIMERS, {iv_id: at_ms})
        else:
            await self.redis.zrem(TIMERS, iv_id)

    async def due(self, now: int, limit: int = 100) -> list[str]:
        return texts(await self.redis.zrangebyscore(TIMERS, 0, now, start=0, num=limit))
