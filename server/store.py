"""The one store: Redis. Keys, reads, and the two atomic scripts (in scripts/*.lua).

Every key of one interview carries the hash tag ``{iv:<id>}``, so the scripts, which
touch several keys of one interview, work unchanged on Redis Cluster. Keys:

    {iv:<id>}:meta     hash   the state-machine snapshot plus the interview's static facts
    {iv:<id>}:seqs     hash   question -> last stored chunk seq
    {iv:<id>}:chunks   stream answer chunks: q, seq, k (s text | b binary), d (sealed data), t
    {iv:<id>}:contact  hash   how to reach the candidate: lang, and phone/email sealed
    {iv:<id>}:answers  hash   question -> JSON record of how it closed
    {iv:<id>}:events   stream live events for monitors: e (JSON fact), t (ms)
    {iv:<id>}:log      stream operation log: e (JSON entry), t (ms), p/h (chain links)
    {iv:<id>}:loghead  string the log's last link (server/audit.py)
    {iv:<id>}:attempts string failed identity checks (expires)
    interviews         zset   every interview id by creation time
    person:<hash>      set    interview ids of one person (keyed hash of ID or phone)
    timers             zset   interview id by when settle() next changes it
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from protocol.interview import Decision, Snapshot, State
from server.audit import LogKey
from server.crypto import (
    CryptoError,
    Keyring,
    RecordCipher,
    chunk_purpose,
    rewrap,
)

log = logging.getLogger("interview_hub.store")

SCRIPTS = Path(__file__).parent / "scripts"
# what opening a sealed record raises when it does not open (tampered with, corrupted, its
# key gone) or is not a sealed record at all (bad base64, too short)
UNREADABLE = (CryptoError, ValueError)
CONTROL_CHANNEL = "hub:control"
# what belongs to one attempt (a reset moves these aside, read-only)
ATTEMPT_PARTS = ("answers", "chunks", "seqs", "reports", "media", "mediacount")
POOL_SIZE = 64  # connections per hub process and client kind; Redis serves them one by one
POOL_WAIT_S = 20.0
ROTATION_COUNTS = ("rewrapped", "current", "no_key", "cannot_open", "changed_meanwhile")
CIPHER_CACHE = 4096  # interviews whose unwrapped data key a process keeps
# personal fields of the meta removed by an erasure (the data key goes first, separately)
ERASED_FIELDS = (
    "candidate",
    "id_hash",
    "phone_hash",
    "id_masked",
    "phone_masked",
    "token_sha",
    "device",
)


def key(iv_id: str, part: str) -> str:
    return f"{{iv:{iv_id}}}:{part}"


def org_log_keys(org: str) -> list[str]:
    """The organisation's log and its head: one hash tag, so one script may touch both."""
    return [f"{{org:{org}}}:log", f"{{org:{org}}}:loghead"]


_SNAPSHOT_FIELDS = {f.name: str(f.type) for f in fields(Snapshot)}


def snapshot_to_hash(snap: Snapshot) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, kind in _SNAPSHOT_FIELDS.items():
        value = getattr(snap, name)
        if kind == "bool":
            out[name] = "1" if value else "0"
        elif name == "time_limits_s":
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def snapshot_from_hash(h: dict[str, str]) -> Snapshot:
    values: dict[str, Any] = {}
    for name, kind in _SNAPSHOT_FIELDS.items():
        raw = h.get(name)
        if raw is None:
            continue
        if name == "state":
            values[name] = State(raw)
        elif name == "time_limits_s":
            values[name] = tuple(int(v) for v in raw.split(",")) if raw else ()
        elif kind == "bool":
            values[name] = raw == "1"
        elif kind == "int":
            values[name] = int(raw)
        else:
            values[name] = raw
    return Snapshot(**values)


def changed_fields(old: Snapshot, new: Snapshot) -> dict[str, str]:
    before, after = snapshot_to_hash(old), snapshot_to_hash(new)
    return {k: v for k, v in after.items() if before.get(k) != v}


class Store:
    """Async access to everything interview-hub keeps in Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        raw: aioredis.Redis,
        *,
        writer: aioredis.Redis | None = None,
        events_maxlen: int = 10_000,
        log_key: LogKey | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.redis = redis  # decodes replies as UTF-8: every key but the chunk data
        self.raw = raw  # bytes as stored: chunk data may be binary
        # The chunk writer's own connection: one pipeline at a time, so it never waits for
        # (or pays the bookkeeping of) the shared blocking pool on the hot path.
        self.writer = writer or redis
        self.events_maxlen = events_maxlen
        self.log_key = log_key or LogKey.from_secret("")
        self.keyring = keyring  # None: this store can neither seal nor open records
        self._ciphers: dict[str, RecordCipher] = {}
        self._unreadable_seen: set[tuple[str, str]] = set()  # reported once each
        self._append_log = redis.register_script((SCRIPTS / "append_log.lua").read_text())
        self._append_source = (SCRIPTS / "append_chunks.lua").read_text()
        self._apply = redis.register_script((SCRIPTS / "apply_decision.lua").read_text())
        self._rewrap = redis.register_script((SCRIPTS / "rewrap_key.lua").read_text())
        self._erase = redis.register_script((SCRIPTS / "erase_interview.lua").read_text())

    @classmethod
    def from_url(cls, url: str, secret: str = "", master_keys: str = "", **kwargs: Any) -> Store:
        """``master_keys``: the keyring text (server/crypto.py); without it the store can
        read and write everything but sealed records."""

        # A blocking pool: a burst of joins or disconnects waits for a connection instead of
        # failing with "Too many connections" (redis-py's default pool raises at 100).
        def client(decode: bool) -> aioredis.Redis:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, decode_responses=decode, max_connections=POOL_SIZE, timeout=POOL_WAIT_S
            )
            return aioredis.Redis.from_pool(pool)  # closing the client closes its pool

        writer = aioredis.Redis.from_url(url, decode_responses=True)
        return cls(
            client(True),
            client(False),
            writer=writer,
            log_key=LogKey.from_secret(secret),
            keyring=Keyring.parse(master_keys) if master_keys else None,
            **kwargs,
        )

    async def close(self) -> None:
        await self.redis.aclose()
        await self.raw.aclose()
        if self.writer is not self.redis:
            await self.writer.aclose()

    async def append_chunks_sha(self) -> str:
        """Load the chunk script (again, after a Redis restart) and return its sha."""
        return await self.redis.script_load(self._append_source)  # type: ignore[no-any-return]

    # --- reads ------------------------------------------------------------------------

    async def meta(self, iv_id: str) -> dict[str, str]:
        """The whole meta hash ({} when there is no such interview)."""
        return await self.redis.hgetall(key(iv_id, "meta"))  # type: ignore[no-any-return]

    async def snapshot(self, iv_id: str) -> tuple[Snapshot, dict[str, str]] | None:
        h = await self.meta(iv_id)
        return (snapshot_from_hash(h), h) if h else None

    async def stored_seq(self, iv_id: str, q: int) -> int:
        raw = await self.redis.hget(key(iv_id, "seqs"), str(q))
        return int(raw) if raw else 0

    # --- encryption at rest (server/crypto.py) ----------------------------------------------

    def cipher_for(self, iv_id: str, data_key: str) -> RecordCipher:
        """The interview's record cipher from its stored (wrapped) data key; cached."""
        cipher = self._ciphers.get(iv_id)
        if cipher is None or cipher.stored != data_key:
            if self.keyring is None:
                raise CryptoError("this store has no master key (HUB_MASTER_KEYS)")
            cipher = RecordCipher(self.keyring, iv_id, data_key)
            if len(self._ciphers) >= CIPHER_CACHE:
                self._ciphers.pop(next(iter(self._ciphers)))
            self._ciphers[iv_id] = cipher
        return cipher

    async def cipher(self, iv_id: str) -> RecordCipher:
        return self.cipher_for(iv_id, await self.redis.hget(key(iv_id, "meta"), "dek") or "")

    def candidate_name(self, iv_id: str, meta: dict[str, str]) -> str:
        """The candidate's name, opened (sealed at rest like the contact); "" once erased,
        and "" when it does not open (``read_candidate_name`` tells that apart)."""
        return self.read_candidate_name(iv_id, meta) or ""

    def read_candidate_name(self, iv_id: str, meta: dict[str, str]) -> str | None:
        """The candidate's name; "" once erased; None when the sealed name does not open:
        one bad record is shown as unreadable, it does not take its page down."""
        sealed = meta.get("candidate", "")
        if not sealed or not meta.get("dek"):
            return ""
        try:
            return self.cipher_for(iv_id, meta["dek"]).open_text("meta|candidate", sealed)
        except UNREADABLE as exc:
            self.report_unreadable(iv_id, "meta|candidate", exc)
            return None

    def report_unreadable(self, iv_id: str, what: str, exc: BaseException) -> None:
        """A WARNING the first time this process meets a record that does not open."""
        if (iv_id, what) in self._unreadable_seen:
            return
        if len(self._unreadable_seen) < CIPHER_CACHE:
            self._unreadable_seen.add((iv_id, what))
        log.warning("interview %s: %s does not open (%s); shown as unreadable", iv_id, what, exc)

    def forget_cipher(self, iv_id: str) -> None:
        self._ciphers.pop(iv_id, None)

    async def erase(self, iv_id: str, meta: dict[str, str], now: int) -> bool:
        """Shred and delete one interview's data (``erase_interview.lua``); False when it
        changed since ``meta`` was read."""
        attempts = int(meta.get("attempt", 1))
        parts = [*ATTEMPT_PARTS, "contact", "events", "notifications", "attempts"]
        keys = [key(iv_id, "meta"), *(key(iv_id, p) for p in parts)]
        for n in range(1, attempts):
            keys += [key(iv_id, f"a{n}:{p}") for p in ("meta", *ATTEMPT_PARTS)]
        done = await self._erase(keys=keys, args=[meta.get("version", ""), now, *ERASED_FIELDS])
        if not int(done):
            return False
        self.forget_cipher(iv_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for field in ("id_hash", "phone_hash"):
                if meta.get(field):
                    pipe.srem(f"person:{meta[field]}", iv_id)  # not in the candidate centre
            pipe.zrem("timers", iv_id)
            await pipe.execute()
        await self._forget_org_events(meta.get("org", "default"), iv_id)
        return True

    async def _forget_org_events(self, org: str, iv_id: str) -> None:
        """The organisation's copies of the interview's events (devices, notes) go too."""
        stream, after = f"org:{org}:events", "-"
        while True:
            rows = await self.redis.xrange(stream, min=after, count=1000)
            if not rows:
                return
            mine = [rid for rid, f in rows if f.get("iv") == iv_id]
            if mine:
                await self.redis.xdel(stream, *mine)
            after = f"({rows[-1][0]}"

    async def add_event(self, iv_id: str, fact: dict[str, Any]) -> None:
        """An event that is not a state change (e.g. the media's), for monitors."""
        now = time_ms()
        event_id = await self.redis.xadd(
            key(iv_id, "events"),
            {"e": json.dumps(fact), "t": now},
            maxlen=self.events_maxlen,
            approximate=True,
        )
        org = await self.redis.hget(key(iv_id, "meta"), "org") or "default"
        await self.org_event(org, iv_id, [event_id], [fact], now)

    async def retention_days(self, org: str) -> int | None:
        """The organisation's retention in days (None: the hub's default)."""
        value = await self.redis.hget(f"org:{org}:settings", "retention_days")
        return int(value) if value else None

    async def set_retention_days(self, org: str, days: int) -> None:
        await self.redis.hset(f"org:{org}:settings", "retention_days", str(days))

    async def rotate_data_keys(self) -> dict[str, int]:
        """Re-wrap every interview's data key under the keyring's current master key."""
        if self.keyring is None:
            raise CryptoError("rotation needs the master keys (HUB_MASTER_KEYS)")
        counts = dict.fromkeys(ROTATION_COUNTS, 0)
        for iv_id in await self.interview_ids():
            # a reset keeps the finished attempts' meta, with a copy of the key: those too
            attempts = int(await self.redis.hget(key(iv_id, "meta"), "attempt") or 1)
            for n in range(1, attempts):
                await self._rotate_one(iv_id, key(iv_id, f"a{n}:meta"), {})
            await self._rotate_one(iv_id, key(iv_id, "meta"), counts)
        return counts

    async def _rotate_one(self, iv_id: str, meta_key: str, counts: dict[str, int]) -> None:
        """Re-wrap the data key held in one meta hash (``counts`` tallies what happened)."""
        assert self.keyring is not None
        tally = counts if counts else dict.fromkeys(ROTATION_COUNTS, 0)
        stored = await self.redis.hget(meta_key, "dek") or ""
        if not stored:
            tally["no_key"] += 1  # erased (crypto-shredded)
            return
        if stored.partition(".")[2].partition(":")[0] == self.keyring.current:
            tally["current"] += 1
            return
        try:
            fresh = rewrap(self.keyring, iv_id, stored)
        except CryptoError:
            tally["cannot_open"] += 1  # its master key is not in this keyring
            return
        done = await self._rewrap(keys=[meta_key], args=[stored, fresh])
        tally["rewrapped" if done else "changed_meanwhile"] += 1
        self.forget_cipher(iv_id)

    async def chunks(self, iv_id: str, attempt: str = "") -> list[dict[str, Any]]:
        """Every stored chunk in arrival order, opened; text chunks as str, binary as bytes.

        ``attempt``: "" for the current attempt, "a1", "a2"... for ones kept after a reset.
        """
        rows = await self.raw.xrange(key(iv_id, f"{attempt}:chunks" if attempt else "chunks"))
        if not rows:
            return []
        dek, current = await self.redis.hmget(key(iv_id, "meta"), ["dek", "attempt"])
        number = int(attempt[1:]) if attempt else int(current or 1)
        out: list[dict[str, Any]] = []
        for rid, f in rows:
            chunk = {
                "id": rid.decode(),
                "q": int(f[b"q"]),
                "seq": int(f[b"seq"]),
                "t": int(f[b"t"]),
            }
            try:
                chunk["data"] = open_chunk(self.cipher_for(iv_id, dek or ""), number, f)
            except UNREADABLE as exc:
                # kept in its place, empty and marked: the rest of the answer still reads
                chunk.update(data=b"", unreadable=True)
                self.report_unreadable(iv_id, "a chunk", exc)
            out.append(chunk)
        return out

    async def media_counts(self, iv_id: str) -> dict[int, dict[str, Any]]:
        """Per question: how many frames and seconds of audio are stored (kept as they are
        written, in ``{iv}:mediacount``: the stream itself is not read)."""
        counts: dict[int, dict[str, Any]] = {}
        for field, value in (await self.redis.hgetall(key(iv_id, "mediacount"))).items():
            q, _, what = field.partition(":")
            c = counts.setdefault(int(q), {"frames": 0, "audio_s": 0.0})
            if what == "frames":
                c["frames"] = int(value)
            else:
                c["audio_s"] = round(int(value) / 1000, 2)
        return counts

    async def media(self, iv_id: str, q: int | None = None) -> list[dict[str, Any]]:
        """The stored media entries (JPEG frames, PCM seconds) of the current attempt, opened."""
        rows = await self.raw.xrange(key(iv_id, "media"))
        if not rows:
            return []
        dek, attempt = await self.redis.hmget(key(iv_id, "meta"), ["dek", "attempt"])
        out = []
        for rid, f in rows:
            if q is not None and int(f[b"q"]) != q:
                continue
            try:
                data = open_media(self.cipher_for(iv_id, dek or ""), int(attempt or 1), f)
            except UNREADABLE as exc:
                self.report_unreadable(iv_id, "a media entry", exc)
                continue  # a recording without one frame or second is still a recording
            out.append(
                {
                    "id": rid.decode(),
                    "q": int(f[b"q"]),
                    "kind": f[b"k"].decode(),
                    "level": int(f[b"lvl"]),
                    "t": int(f[b"t"]),
                    "data": data,
                }
            )
        return out

    async def answers(self, iv_id: str, attempt: str = "") -> dict[int, dict[str, Any]]:
        raw = await self.redis.hgetall(key(iv_id, f"{attempt}:answers" if attempt else "answers"))
        return {int(q): json.loads(v) for q, v in raw.items()}

    async def events(
        self, iv_id: str, after: str = "-", count: int | None = None
    ) -> list[dict[str, Any]]:
        start = "-" if after == "-" else f"({after}"
        rows = await self.redis.xrange(key(iv_id, "events"), min=start, count=count)
        return [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]

    async def oplog(self, iv_id: str) -> list[dict[str, Any]]:
        rows = await self.redis.xrange(key(iv_id, "log"))
        return [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]

    async def interview_ids(self, org: str | None = None) -> list[str]:
        index = f"org:{org}:interviews" if org else "interviews"
        return await self.redis.zrange(index, 0, -1)  # type: ignore[no-any-return]

    async def metas(self, ids: list[str]) -> list[dict[str, str]]:
        """Many meta hashes in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hgetall(key(iv_id, "meta"))
            return await pipe.execute()  # type: ignore[no-any-return]

    async def org_log(self, org: str, after: str = "-", count: int = 1000) -> list[dict[str, Any]]:
        """The newest ``count`` entries at or after ``after``, oldest first."""
        rows = await self.redis.xrevrange(org_log_keys(org)[0], min=after, count=count)
        rows.reverse()
        return [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]

    async def person_interviews(self, person_hash: str) -> set[str]:
        return await self.redis.smembers(f"person:{person_hash}")  # type: ignore[no-any-return]

    # --- writes -----------------------------------------------------------------------

    async def create(
        self, iv_id: str, snap: Snapshot, static: dict[str, str], person_hashes: list[str], now: int
    ) -> None:
        mapping = {**static, **snapshot_to_hash(snap), "created_ms": str(now)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key(iv_id, "meta"), mapping=mapping)
            pipe.zadd("interviews", {iv_id: now})
            pipe.zadd(f"org:{static['org']}:interviews", {iv_id: now})
            for h in person_hashes:
                pipe.sadd(f"person:{h}", iv_id)
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
        archive_attempt: int = 0,
    ) -> list[str] | None:
        """Apply ``decision`` if the interview is still at ``old.version``.

        Returns the ids of the events written, or None when someone changed the
        interview first (the caller re-reads and decides again).
        """
        meta = changed_fields(old, decision.snapshot)
        meta.update(extra_meta or {})
        answers = {
            str(f["q"]): json.dumps({k: v for k, v in f.items() if k != "kind"})
            for f in decision.facts
            if f["kind"] == "answer_closed"
        }
        args: list[Any] = [old.version, now, self.events_maxlen, len(meta)]
        for k, v in meta.items():
            args += [k, v]
        args.append(len(answers))
        for k, v in answers.items():
            args += [k, v]
        args.append(len(decision.facts))
        args += [json.dumps(f, separators=(",", ":")) for f in decision.facts]
        entries = log or []
        args.append(len(entries))
        args += [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in entries]
        args += [self.log_key.inner, self.log_key.outer]
        keys = [
            key(iv_id, "meta"),
            key(iv_id, "answers"),
            key(iv_id, "events"),
            key(iv_id, "log"),
            key(iv_id, "loghead"),
        ]
        if archive_attempt:
            # before the change: the finished attempt's meta, answers and chunks move aside
            prefix = f"a{archive_attempt}:"
            keys.append(key(iv_id, prefix + "meta"))
            for part in ATTEMPT_PARTS:
                keys += [key(iv_id, part), key(iv_id, prefix + part)]
        result = await self._apply(keys=keys, args=args)
        if int(result[0]) != 1:
            return None
        return [str(x) for x in result[2:]]

    def _log_args(self, now: int, entries: list[dict[str, Any]]) -> list[Any]:
        body = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in entries]
        return [self.log_key.inner, self.log_key.outer, now, *body]

    async def log(self, iv_id: str, entry: dict[str, Any], now: int) -> None:
        """Append one operation-log entry that changes no state (a refusal, a login...)."""
        await self._append_log(
            keys=[key(iv_id, "log"), key(iv_id, "loghead")], args=self._log_args(now, [entry])
        )

    async def log_org(self, org: str, entry: dict[str, Any], now: int) -> None:
        """The organisation's copy of an operation-log entry (and HR-only ones: login...)."""
        await self._append_log(keys=org_log_keys(org), args=self._log_args(now, [entry]))

    async def log_chain(self, stream: str) -> tuple[list[dict[str, str]], str | None]:
        """Every entry of a log stream as stored, and its head: for verifying and export."""
        rows = await self.redis.xrange(stream)
        head = await self.redis.get(stream.removesuffix("log") + "loghead")
        return [{"id": rid, **fields} for rid, fields in rows], head

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
                pipe.zadd("timers", {iv_id: deadline})
            else:
                pipe.zrem("timers", iv_id)
            await pipe.execute()

    async def org_event(self, org: str, iv_id: str, ids: list[str], facts: Any, now: int) -> None:
        """Mirror an interview's new events into its organisation's event stream."""
        if not ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            self._mirror_events(pipe, org, iv_id, ids, facts, now)
            await pipe.execute()

    def _mirror_events(
        self, pipe: Any, org: str, iv_id: str, ids: list[str], facts: Any, now: int
    ) -> None:
        for event_id, fact in zip(ids, facts, strict=True):
            pipe.xadd(
                f"org:{org}:events",
                {"iv": iv_id, "src": event_id, "e": json.dumps(fact), "t": now},
                maxlen=self.events_maxlen * 10,
                approximate=True,
            )

    async def count_failed_identity(self, iv_id: str, lockout_s: int) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key(iv_id, "attempts"))
            pipe.expire(key(iv_id, "attempts"), lockout_s)
            count, _ = await pipe.execute()
        return int(count)

    async def ip_failures(self, kind: str, ip: str) -> int:
        """Failed checks of ``kind`` ("identity", "login") from one address, this window."""
        return int(await self.redis.get(f"ipfail:{kind}:{ip}") or 0)

    async def count_ip_failure(self, kind: str, ip: str, window_s: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(f"ipfail:{kind}:{ip}")
            pipe.expire(f"ipfail:{kind}:{ip}", window_s)
            await pipe.execute()

    async def clear_failed_identity(self, iv_id: str) -> None:
        await self.redis.delete(key(iv_id, "attempts"))

    async def schedule(self, iv_id: str, at_ms: int) -> None:
        if at_ms:
            await self.redis.zadd("timers", {iv_id: at_ms})
        else:
            await self.redis.zrem("timers", iv_id)

    async def due(self, now: int, limit: int = 100) -> list[str]:
        return await self.redis.zrangebyscore("timers", 0, now, start=0, num=limit)  # type: ignore[no-any-return]

    # --- hub leases: sessions of a hub that died are released by the others ----------------

    async def hub_alive(self, hub_id: str, lease_s: float) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"hub:{hub_id}:alive", "1", px=int(lease_s * 1000))
            pipe.sadd("hubs", hub_id)
            await pipe.execute()

    async def hub_holds(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.sadd(f"hub:{hub_id}:sockets", f"{iv_id} {session}")

    async def hub_released(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.srem(f"hub:{hub_id}:sockets", f"{iv_id} {session}")

    async def hub_gone(self, hub_id: str) -> None:
        """A hub stopping: its lease ends now, so what it still held is released at once."""
        await self.redis.delete(f"hub:{hub_id}:alive")

    async def dead_hubs(self) -> list[str]:
        hubs = sorted(await self.redis.smembers("hubs"))
        if not hubs:
            return []
        alive = await self.redis.mget([f"hub:{h}:alive" for h in hubs])
        return [h for h, a in zip(hubs, alive, strict=True) if a is None]

    async def hub_sockets(self, hub_id: str) -> list[tuple[str, str]]:
        """(interview id, session) of every socket the hub held when it was last seen."""
        members = await self.redis.smembers(f"hub:{hub_id}:sockets")
        return [tuple(m.split(" ", 1)) for m in members]  # type: ignore[misc]

    async def forget_hub(self, hub_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(f"hub:{hub_id}:sockets")
            pipe.srem("hubs", hub_id)
            await pipe.execute()

    async def publish_control(self, message: dict[str, Any]) -> None:
        await self.redis.publish(CONTROL_CHANNEL, json.dumps(message))


def time_ms() -> int:
    return time.time_ns() // 1_000_000


def media_purpose(attempt: int, q: int, kind: str, session: str, n: int) -> str:
    """The associated-data purpose of one media entry (server/media.py writes it)."""
    return f"media|a{attempt}|q{q}|{kind}|{session}|{n}"


def open_media(cipher: RecordCipher, attempt: int, fields: dict[bytes, bytes]) -> bytes:
    """A stored media entry's data, opened."""
    purpose = media_purpose(
        attempt,
        int(fields[b"q"]),
        fields[b"k"].decode(),
        fields[b"s"].decode(),
        int(fields[b"n"]),
    )
    return cipher.open(purpose, fields[b"d"])


def open_chunk(cipher: RecordCipher, attempt: int, fields: dict[bytes, bytes]) -> str | bytes:
    """A stored chunk's data, opened: str for a text chunk, bytes for a binary one."""
    q, seq = int(fields[b"q"]), int(fields[b"seq"])
    data = cipher.open(chunk_purpose(attempt, q, seq), fields[b"d"])
    return data.decode() if fields[b"k"] == b"s" else data
