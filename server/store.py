"""The one store: Redis. Keys, reads, and the two atomic scripts (in scripts/*.lua).

Every key of one interview carries the hash tag ``{iv:<id>}``, so the scripts, which
touch several keys of one interview, work unchanged on Redis Cluster. Keys:

    {iv:<id>}:meta     hash   the state-machine snapshot plus the interview's static facts
    {iv:<id>}:seqs     hash   question -> last stored chunk seq; <q>:bytes its size, <q>:full
                              once a chunk did not fit (append_chunks.lua)
    {iv:<id>}:chunks   stream answer chunks: q, seq, k (s text | b binary), d (sealed data), t
    {iv:<id>}:contact  hash   how to reach the candidate: lang, and phone/email sealed
    {iv:<id>}:answers  hash   question -> JSON record of how it closed
    {iv:<id>}:transcripts  hash  question -> sealed JSON transcript of a spoken answer
    {iv:<id>}:review       hash  dimension | "decision" -> sealed JSON: HR's override / decision
    {iv:<id>}:asr      hash   question -> JSON state of its transcription: pending (tries,
                              reason of the last failure), none (no audio), done, failed
    {iv:<id>}:events   stream live events for monitors: e (JSON fact), t (ms)
    {iv:<id>}:log      stream operation log: e (JSON entry), t (ms), n (position), m (MAC)
    {iv:<id>}:loghead  string the log's last entry: "<n> <id> <mac>" (server/audit.py)
    {iv:<id>}:logcall  string the token of the call that last moved the head (expires)
    {iv:<id>}:attempts string failed identity checks (expires)
    {iv:<id>}:refusalbrake  string  held while a lock-out refusal was logged this interval
    {iv:<id>}:refusals hash   lock-out refusals not logged one by one: n:<reason> counts,
                              first_ms, last_ms; summed up, then gone
    {iv:<id>}:refusaladdrs  zset  their newest few addresses -> last time (ms)
    interviews         zset   every interview id by creation time
    person:<hash>      set    interview ids of one person (keyed hash of ID or phone)
    org:<org>:profile:<id>  set  the organisation's interview ids of one candidate profile
                              (server/identity.py profile_id; the meta's ``profile``)
    org:<org>:webhookdeliveries  list  the newest ATS webhook deliveries' ids (server/webhooks.py)
    timers             zset   interview id by when settle() next changes it
    refusalsums        zset   interview id by when its unlogged refusals are summed up
    kek:<epoch>:interviews  set     interviews whose data key is wrapped under the month's KEK
    kek:<epoch>:destroyed   string  when retention destroyed that KEK (ms)
    claim:<job>        string one process's claim on a job (``erasing:<id>``), expires
    transcribe:jobs    stream transcription jobs (job: JSON {iv, attempt, q, tries}), read
                       by the consumer group ``transcribers`` (server/transcribe.py)
    transcribe:later   zset   jobs not due yet (a question just closed, a retry's back-off)
    transcribe:dead    stream jobs given up (job, reason, t), capped
    notify:outbox      stream sealed notifications and ATS webhook deliveries, read by the
                       consumer group ``senders`` (server/notify.py)
    notify:retry       zset   sealed deliveries waiting out their back-off -> due (ms)
    notify:status:<id> string a delivery's state (JSON), listed in {iv:<id>}:notifications
    notify:done:<id>   string set once its provider accepted it: never sent again

An erased interview's meta keeps ``erased_ms``, ``erasing`` (the erasure's log entry and
what is left to forget outside its keys) until the steps after its script are done, and
``files`` / ``files_ms``: what became of Redis' files since ("pending", "rewritten"...).

The KEKs themselves are files in the key directory (server/keys.py), never in Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, cast, overload

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.typing import (
    EncodableT,
    FieldT,
    StreamRangeResponse,
    XReadGroupResponse,
    XReadResponse,
    ZSetRangeResponse,
)

from protocol.interview import Decision, Snapshot, State
from server import audit
from server.audit import Head, LogKey
from server.crypto import (
    CryptoError,
    DataKeys,
    Keyring,
    RecordCipher,
    chunk_purpose,
    epoch_of,
    epoch_of_data_key,
    rewrap,
    wrapper_of,
)
from server.keys import KekFiles

log = logging.getLogger("interview_hub.store")

SCRIPTS = Path(__file__).parent / "scripts"
# what opening a sealed record raises when it does not open (tampered with, corrupted, its
# key gone) or is not a sealed record at all (bad base64, too short)
UNREADABLE = (CryptoError, ValueError)
CONTROL_CHANNEL = "hub:control"
TRANSCRIBE_JOBS = "transcribe:jobs"
TRANSCRIBE_LATER = "transcribe:later"
TRANSCRIBE_DEAD = "transcribe:dead"
TRANSCRIBERS = "transcribers"  # the consumer group
DEAD_JOBS_KEPT = 10_000
PCM_BYTES_PER_S = 32_000  # 16 kHz, 16-bit, mono
# what belongs to one attempt (a reset moves these aside, read-only)
ATTEMPT_PARTS = (
    "answers",
    "chunks",
    "seqs",
    "reports",
    "media",
    "mediacount",
    "transcripts",
    "review",  # HR's overrides and decision (server/reports.py)
    "asr",
)
POOL_SIZE = 64  # connections per hub process and client kind; Redis serves them one by one
POOL_WAIT_S = 20.0
ROTATION_COUNTS = (
    "rewrapped",  # moved from a master key to its month's KEK
    "current",  # already under a KEK
    "no_key",  # erased
    "cannot_open",  # its master key is not in the keyring
    "changed_meanwhile",
    "masks_sealed",  # masked ID / phone kept in clear by older versions, now sealed
)
CIPHER_CACHE = 4096  # interviews whose unwrapped data key a process keeps
REFUSAL_ADDRESSES = 10  # addresses a summary of unlogged refusals names, at most
REFUSALS_KEPT_S = 7 * 86400  # unlogged refusal counts no sweeper summed up by then go
# meta fields sealed with the interview's data key (purpose "meta|<field>"), opened for display;
# the masked numbers too: beside a keyed hash, 186****5432 leaves 10^4 phones to try
MASKED_META = ("id_masked", "phone_masked")
SEALED_META = ("candidate", *MASKED_META)
LOG_HEAD_CACHE = 4096  # logs whose head a process remembers from its own last append
LOG_BATCH = 100  # operation-log entries appended by one script call
LOG_RETRIES = 50  # compare-and-set tries of one append before giving up
# how long a log's head remembers the (random) token of the call that moved it: a call resent
# after a lost reply (RETRIES, each within a second or so) is known as applied by it
LOG_CALL_KEPT_MS = 60_000
# an interview's meta, or an archived attempt's: {iv:<id>}:meta, {iv:<id>}:a<n>:meta
META_KEY = re.compile(r"\{iv:([^}]+)\}:(?:a[0-9]+:)?meta")
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
    "profile",
)


# What the other modules catch (they never import redis: the store is the one that talks
# to it): any failure of Redis; Redis away (no connection, no answer in time); a command
# Redis refused (a script error, an unknown command)
StoreError = redis.exceptions.RedisError
STORE_AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
StoreRefused = redis.exceptions.ResponseError

# Errors that mean "this connection is gone, try another": the command is retried on a fresh
# connection a few times before the caller sees it (a Redis restart, a reset link). Not a
# timeout: Redis may be busy with the command, and running it twice is not always harmless;
# the scripts that change state recognise a resend after a lost reply (apply_decision.lua,
# append_log.lua, append_chunks.lua), so a reset connection is safe to retry.
RETRY_ON = (redis.exceptions.ConnectionError,)
RETRIES = 3
# A pooled connection idle this long is pinged before use: one left over from before a
# Redis restart is found out there, not by the command it would have carried.
HEALTH_CHECK_S = 5


class _LostOnWrite(aioredis.connection.AbstractConnection):
    """A write on a connection whose peer went away is a connection error.

    uvloop raises RuntimeError ("unable to perform operation on <TCPTransport closed=True>")
    where asyncio's own loop raises OSError; redis-py only treats the latter as a lost
    connection, so without this one reset link killed whatever task was writing.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:  # redis-py has already dropped the connection
            raise redis.exceptions.ConnectionError(f"connection lost on write: {exc}") from exc


class TCPConnection(_LostOnWrite, aioredis.Connection):
    pass


class UnixConnection(_LostOnWrite, aioredis.UnixDomainSocketConnection):
    pass


def redis_client(
    url: str,
    *,
    decode: bool = True,
    max_connections: int | None = None,
    blocking: bool = False,
    socket_timeout: float | None = 5.0,
    health_check: bool = True,
) -> aioredis.Redis:
    """A Redis client that survives the link being reset or Redis restarting: lost
    connections are replaced and the command retried with back-off (``RETRIES`` times).

    Every client the hub uses is made here. ``blocking``: a pool that waits for a free
    connection (``POOL_WAIT_S``) instead of failing when all ``max_connections`` are busy.
    """
    options: dict[str, Any] = {
        "decode_responses": decode,
        "connection_class": UnixConnection if url.startswith("unix:") else TCPConnection,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), RETRIES, RETRY_ON),
        "socket_timeout": socket_timeout,
        "health_check_interval": HEALTH_CHECK_S if health_check else 0,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    if blocking:
        pool: aioredis.ConnectionPool = aioredis.BlockingConnectionPool.from_url(
            url, timeout=POOL_WAIT_S, **options
        )
    else:
        pool = aioredis.ConnectionPool.from_url(url, **options)
    return aioredis.Redis.from_pool(pool)  # closing the client closes its pool


# --- replies as they are ----------------------------------------------------------------
# redis-py types a reply for either kind of client: a string as ``bytes | str``, a stream's
# rows as optional. Ours are fixed when made: ``Store.redis`` decodes (its strings are str),
# ``Store.raw`` does not (bytes). These say which, where a reply is read: casts for the
# type checker, nothing is checked at run time.

Row = tuple[str, dict[str, str]]  # a stream entry from a decoding client: id, fields
RawRow = tuple[bytes, dict[bytes, bytes]]  # the same from ``Store.raw``
StreamsReply = XReadResponse | XReadGroupResponse | None


@overload
def text_value(reply: bytes | str) -> str: ...
@overload
def text_value(reply: bytes | str | None) -> str | None: ...
def text_value(reply: bytes | str | None) -> str | None:
    """A string (or None: no such key or field) from a decoding client."""
    return cast(str | None, reply)


def texts(reply: list[bytes | str] | ZSetRangeResponse) -> list[str]:
    """A list of strings (LRANGE; ZRANGE without scores) from a decoding client."""
    return cast(list[str], reply)


def text_set(reply: set[bytes | str]) -> set[str]:
    """A set (SMEMBERS) from a decoding client."""
    return cast(set[str], reply)


def text_hash(reply: dict[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash (HGETALL) from a decoding client."""
    return cast(dict[str, str], reply)


def text_rows(reply: StreamRangeResponse | None) -> list[Row]:
    """A stream's entries (XRANGE, XREVRANGE) from a decoding client: a list, never None,
    and every entry with its fields (only a pending entry since deleted has none)."""
    return cast(list[Row], reply)


def raw_rows(reply: StreamRangeResponse | None) -> list[RawRow]:
    """A stream's entries from a client that does not decode (``Store.raw``)."""
    return cast(list[RawRow], reply)


def text_streams(reply: StreamsReply) -> list[tuple[str, list[Row]]]:
    """What XREAD or XREADGROUP read from a decoding client (RESP2: a list of [stream,
    entries]; [] for None, when nothing came before the block ran out)."""
    return cast(list[tuple[str, list[Row]]], reply or [])


def raw_streams(reply: StreamsReply) -> list[tuple[bytes, list[RawRow]]]:
    """The same from a client that does not decode."""
    return cast(list[tuple[bytes, list[RawRow]]], reply or [])


def as_fields(mapping: Mapping[str, str]) -> Mapping[FieldT, EncodableT]:
    """String fields and values to write (HSET): redis-py's mapping parameter is invariant
    in its key type, so it refuses a ``dict[str, str]`` it takes as it is."""
    return cast(Mapping[FieldT, EncodableT], mapping)


def key(iv_id: str, part: str) -> str:
    return f"{{iv:{iv_id}}}:{part}"


def epoch_members_key(epoch: str) -> str:
    return f"kek:{epoch}:interviews"


def epoch_destroyed_key(epoch: str) -> str:
    return f"kek:{epoch}:destroyed"


NOTIFY_OUTBOX = "notify:outbox"  # stream of sealed notifications, group NOTIFY_SENDERS
NOTIFY_SENDERS = "senders"
NOTIFY_RETRY = "notify:retry"  # zset: sealed notification -> when its retry is due (ms)
NOTIFY_STATUS_TTL_S = 90 * 24 * 3600  # how long HR can see a notification's delivery state


def profile_key(org: str, profile: str) -> str:
    return f"org:{org}:profile:{profile}"


def org_log_keys(org: str) -> list[str]:
    """The organisation's log and its head: one hash tag, so one script may touch both."""
    return [f"{{org:{org}}}:log", f"{{org:{org}}}:loghead"]


def log_scope(iv_id: str = "", org: str = "") -> str:
    """The name a log's MACs and checkpoints bind it to: ``iv:<id>`` or ``org:<org>``."""
    return f"iv:{iv_id}" if iv_id else f"org:{org}"


def log_keys(scope: str) -> list[str]:
    """A log's stream and head keys, from its scope."""
    kind, _, name = scope.partition(":")
    if kind == "iv":
        return [key(name, "log"), key(name, "loghead")]
    return org_log_keys(name)


def log_call_key(scope: str) -> str:
    """Beside a log's head: the token of the call that last moved it (append_log.lua)."""
    kind, _, name = scope.partition(":")
    return key(name, "logcall") if kind == "iv" else f"{{org:{name}}}:logcall"


class LogConflict(Exception):
    """An operation-log append kept finding the head moved (or the stream's ids ahead)."""


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
        keks: KekFiles | None = None,
    ) -> None:
        self.redis = redis  # decodes replies as UTF-8: every key but the chunk data
        self.raw = raw  # bytes as stored: chunk data may be binary
        # The chunk writer's own connection: one pipeline at a time, so it never waits for
        # (or pays the bookkeeping of) the shared blocking pool on the hot path.
        self.writer = writer or redis
        self.events_maxlen = events_maxlen
        self.log_key = log_key or LogKey.from_secret("")
        self.keyring = keyring  # None: this store can neither seal nor open records
        # None: no key directory (tools, tests): new data keys go under the master key
        self.data_keys = DataKeys(keyring, keks) if keyring else None
        self.keks = keks
        self._ciphers: dict[str, RecordCipher] = {}
        self._rewrite_lock = asyncio.Lock()
        self._rewrites_started = 0
        self._last_rewrite = ""
        # the operation logs (server/audit.py): the head this process last wrote, per log;
        # the stream's last id where someone wrote entries the head does not know; the
        # entries waiting to be appended and the task appending them, per log; and the
        # newest head of each log appended to since the last checkpoint (server/anchors.py)
        self._log_heads: dict[str, Head] = {}
        self._log_floor: dict[str, str] = {}
        self._log_queues: dict[str, list[tuple[str, int, asyncio.Future[None]]]] = {}
        self._log_appenders: dict[str, asyncio.Task[None]] = {}
        self._unanchored: dict[str, Head] = {}
        self._append_log_script = redis.register_script((SCRIPTS / "append_log.lua").read_text())
        self._unreadable_seen: set[tuple[str, str]] = set()  # reported once each
        self._append_source = (SCRIPTS / "append_chunks.lua").read_text()
        self._apply = redis.register_script((SCRIPTS / "apply_decision.lua").read_text())
        self._set_if_script = redis.register_script((SCRIPTS / "set_if.lua").read_text())
        self._erase = redis.register_script((SCRIPTS / "erase_interview.lua").read_text())
        self._save_transcript = redis.register_script((SCRIPTS / "save_transcript.lua").read_text())
        self._move_due_jobs = redis.register_script((SCRIPTS / "move_due_jobs.lua").read_text())
        self._forget_hub = redis.register_script((SCRIPTS / "forget_hub.lua").read_text())
        self._release_claim = redis.register_script((SCRIPTS / "release_claim.lua").read_text())
        self._forget_org_events_script = redis.register_script(
            (SCRIPTS / "forget_org_events.lua").read_text()
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        secret: str = "",
        master_keys: str = "",
        key_dir: Path | None = None,
        **kwargs: Any,
    ) -> Store:
        """``master_keys``: the keyring text (server/crypto.py); without it the store can
        read and write everything but sealed records. ``key_dir``: where the monthly KEKs
        are (server/keys.py); the hub and every command pass it."""

        # A blocking pool: a burst of joins or disconnects waits for a connection instead of
        # failing with "Too many connections" (redis-py's default pool raises at 100).
        def client(decode: bool) -> aioredis.Redis:
            return redis_client(url, decode=decode, max_connections=POOL_SIZE, blocking=True)

        # the writer's one connection is busy all the time under load: no idle pings
        writer = redis_client(url, health_check=False)
        keyring = Keyring.parse(master_keys) if master_keys else None
        return cls(
            client(True),
            client(False),
            writer=writer,
            log_key=LogKey.from_secret(secret),
            keyring=keyring,
            keks=KekFiles(key_dir, keyring) if key_dir and keyring else None,
            **kwargs,
        )

    async def close(self) -> None:
        for task in list(self._log_appenders.values()):
            await asyncio.gather(task, return_exceptions=True)  # what was asked is written
        await self.redis.aclose()
        await self.raw.aclose()
        if self.writer is not self.redis:
            await self.writer.aclose()

    async def append_chunks_sha(self) -> str:
        """Load the chunk script (again, after a Redis restart) and return its sha."""
        return await self.redis.script_load(self._append_source)

    # --- reads ------------------------------------------------------------------------

    async def meta(self, iv_id: str) -> dict[str, str]:
        """The whole meta hash ({} when there is no such interview)."""
        return text_hash(await self.redis.hgetall(key(iv_id, "meta")))

    async def snapshot(self, iv_id: str) -> tuple[Snapshot, dict[str, str]] | None:
        h = await self.meta(iv_id)
        return (snapshot_from_hash(h), h) if h else None

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

    async def stored_seq(self, iv_id: str, q: int) -> int:
        raw = await self.redis.hget(key(iv_id, "seqs"), str(q))
        return int(raw) if raw else 0

    # --- encryption at rest (server/crypto.py) ----------------------------------------------

    def cipher_for(self, iv_id: str, data_key: str) -> RecordCipher:
        """The interview's record cipher from its stored (wrapped) data key; cached."""
        cipher = self._ciphers.get(iv_id)
        if cipher is None or cipher.stored != data_key:
            if self.data_keys is None:
                raise CryptoError("this store has no master key (HUB_MASTER_KEYS)")
            cipher = RecordCipher(self.data_keys, iv_id, data_key)
            if len(self._ciphers) >= CIPHER_CACHE:
                self._ciphers.pop(next(iter(self._ciphers)))
            self._ciphers[iv_id] = cipher
        return cipher

    async def cipher(self, iv_id: str) -> RecordCipher:
        return self.cipher_for(
            iv_id, text_value(await self.redis.hget(key(iv_id, "meta"), "dek")) or ""
        )

    def new_data_key(self, iv_id: str, now: int) -> str:
        """A data key for an interview made at ``now``: under that month's KEK."""
        if self.data_keys is None:
            raise CryptoError("creating an interview needs a master key (HUB_MASTER_KEYS)")
        return self.data_keys.new(iv_id, epoch_of(now) if self.data_keys.keks else None)

    def open_meta(self, iv_id: str, meta: dict[str, str], field: str) -> str:
        """A sealed field of the meta (SEALED_META), opened; "" when absent or erased."""
        assert field in SEALED_META, field
        value = meta.get(field, "")
        if "*" in value:
            return value  # a masked form older versions kept in clear (base64 has no "*")
        if not value or not meta.get("dek"):
            return ""
        return self.cipher_for(iv_id, meta["dek"]).open_text(f"meta|{field}", value)

    def candidate_name(self, iv_id: str, meta: dict[str, str]) -> str:
        """The candidate's name, opened (sealed at rest like the contact); "" once erased,
        and "" when it does not open (``read_candidate_name`` tells that apart)."""
        return self.read_candidate_name(iv_id, meta) or ""

    def read_candidate_name(self, iv_id: str, meta: dict[str, str]) -> str | None:
        """The candidate's name; "" once erased; None when the sealed name does not open:
        one bad record is shown as unreadable, it does not take its page down."""
        return self.read_meta(iv_id, meta, "candidate")

    def read_meta(self, iv_id: str, meta: dict[str, str], field: str) -> str | None:
        """A sealed field of the meta, opened; "" when absent or erased; None when it does
        not open (reported once, shown as unreadable)."""
        try:
            return self.open_meta(iv_id, meta, field)
        except UNREADABLE as exc:
            self.report_unreadable(iv_id, f"meta|{field}", exc)
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
            keys += [key(iv_id, f"a{n}:{p}") for p in ("meta", *ATTEMPT_PARTS)]
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
                pipe.srem(f"person:{person}", iv_id)  # not in the candidate centre
            if left.get("profile"):  # nor in the candidate's file HR sees
                pipe.srem(profile_key(left.get("org", "default"), left["profile"]), iv_id)
            pipe.zrem("timers", iv_id)
            if left.get("epoch"):
                pipe.srem(epoch_members_key(left["epoch"]), iv_id)  # its KEK may go
            for msg_id in sent:  # a delivery error may quote an address
                pipe.delete(f"notify:status:{msg_id}", f"notify:done:{msg_id}")
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

    async def claim(self, name: str, ttl_ms: int) -> str | None:
        """A claim on ``name`` for ``ttl_ms`` (one process at a time does the work); its
        token, or None when another process holds it."""
        token = secrets.token_hex(8)
        taken = await self.redis.set(f"claim:{name}", token, nx=True, px=ttl_ms)
        return token if taken else None

    async def release(self, name: str, token: str) -> None:
        await self._release_claim(keys=[f"claim:{name}"], args=[token])

    async def _forget_org_events(self, org: str, iv_id: str) -> int:
        """The organisation's copies of the interview's events (devices, notes) go too, and
        from Redis' files as well: the part of the stream that held them is written anew
        (forget_org_events.lua). Found page by page first: most erasures (by retention)
        find nothing left, and paging never holds Redis up."""
        stream, after = f"org:{org}:events", "-"
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

    async def retention_days(self, org: str) -> int | None:
        """The organisation's retention in days (None: the hub's default)."""
        value = await self.redis.hget(f"org:{org}:settings", "retention_days")
        return int(value) if value else None

    async def set_retention_days(self, org: str, days: int) -> None:
        await self.redis.hset(f"org:{org}:settings", "retention_days", str(days))

    async def org_profile(self, org: str) -> dict[str, str]:
        """How reports present the organisation: its display name and time zone ("" unset)."""
        name, zone = await self.redis.hmget(f"org:{org}:settings", ["display_name", "time_zone"])
        return {"display_name": text_value(name) or "", "time_zone": text_value(zone) or ""}

    async def org_report_auto(self, org: str) -> bool:
        """Whether the organisation's new interviews make their report by themselves (on
        unless set off) when their spec does not say."""
        return await self.redis.hget(f"org:{org}:settings", "report_auto") != "0"

    async def set_org_profile(self, org: str, profile: dict[str, str]) -> None:
        await self.redis.hset(f"org:{org}:settings", mapping=as_fields(profile))

    async def rotate_data_keys(self, now: int) -> dict[str, int]:
        """After a new master key is added: every KEK sealed under it, every data key still
        wrapped under a master key moved to its month's KEK, and masked forms older versions
        kept in clear sealed. Afterwards only the current master key is needed."""
        if self.data_keys is None:
            raise CryptoError("rotation needs the master keys (HUB_MASTER_KEYS)")
        counts = dict.fromkeys(ROTATION_COUNTS, 0)
        keks = self.keks
        counts["keks_resealed"] = keks.reseal() if keks else 0
        for iv_id in await self.interview_ids():
            meta = await self.meta(iv_id)
            if not meta:
                continue
            stored = meta.get("dek", "")
            epoch = None
            if keks and stored and epoch_of_data_key(stored) is None:
                epoch = await self.enrol_in_epoch(
                    iv_id, epoch_of(int(meta.get("created_ms") or now)), now
                )
            # a reset keeps the finished attempts' meta, with a copy of the key: those too
            for n in range(1, int(meta.get("attempt", 1))):
                await self._rotate_one(iv_id, key(iv_id, f"a{n}:meta"), epoch, {})
            await self._rotate_one(iv_id, key(iv_id, "meta"), epoch, counts)
        return counts

    async def _rotate_one(
        self, iv_id: str, meta_key: str, epoch: str | None, counts: dict[str, int]
    ) -> None:
        """Move the data key held in one meta hash to ``epoch``'s KEK (None: to the current
        master key, without a key directory) and seal its masked forms; ``counts`` tallies."""
        assert self.data_keys is not None
        tally = counts if counts else dict.fromkeys(ROTATION_COUNTS, 0)
        meta = text_hash(await self.redis.hgetall(meta_key))
        stored = meta.get("dek", "")
        if not stored:
            tally["no_key"] += 1  # erased (crypto-shredded)
            return
        under_kek = epoch_of_data_key(stored) is not None
        if under_kek or (epoch is None and wrapper_of(stored) == self.data_keys.keyring.current):
            tally["current"] += 1
            fresh = stored
        else:
            try:
                fresh = (
                    self.data_keys.to_epoch(iv_id, stored, epoch)
                    if epoch
                    else rewrap(self.data_keys.keyring, iv_id, stored)
                )
            except CryptoError:
                tally["cannot_open"] += 1  # its master key is not in this keyring
                return
            done = await self._set_if(meta_key, "dek", stored, fresh)
            tally["rewrapped" if done else "changed_meanwhile"] += 1
            self.forget_cipher(iv_id)
            if not done:
                return
        cipher = RecordCipher(self.data_keys, iv_id, fresh)
        for field in MASKED_META:
            clear = meta.get(field, "")
            if "*" in clear:  # kept in clear before masked forms were sealed
                sealed = cipher.seal_text(f"meta|{field}", clear)
                if await self._set_if(meta_key, field, clear, sealed):
                    tally["masks_sealed"] += 1

    async def _set_if(self, hash_key: str, field: str, expected: str, value: str) -> bool:
        """Set one field if it still holds ``expected`` (set_if.lua)."""
        return bool(int(await self._set_if_script(keys=[hash_key], args=[field, expected, value])))

    # --- KEK epochs: which months' KEKs are still needed (server/retention.py) -------------

    async def enrol_in_epoch(self, iv_id: str, epoch: str, now: int) -> str:
        """Record that the interview's data key is about to be wrapped under ``epoch``'s KEK;
        returns the epoch to use: this month's instead if that KEK was destroyed meanwhile.

        Enrol first, then look for the destruction mark; retire_epoch marks first, then
        counts: whatever the interleaving, one of the two sees the other."""
        await self.redis.sadd(epoch_members_key(epoch), iv_id)
        if not await self.redis.exists(epoch_destroyed_key(epoch)):
            return epoch
        await self.redis.srem(epoch_members_key(epoch), iv_id)
        current = epoch_of(now)
        await self.redis.sadd(epoch_members_key(current), iv_id)
        return current

    async def prune_epoch(self, epoch: str) -> None:
        """Forget members that were erased or deleted (an erasure cut short before its SREM)."""
        members = sorted(text_set(await self.redis.smembers(epoch_members_key(epoch))))
        if not members:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in members:
                pipe.hmget(key(iv_id, "meta"), ["id", "erased_ms"])
            found = await pipe.execute()
        gone = [i for i, (ident, erased) in zip(members, found, strict=True) if erased or not ident]
        if gone:
            await self.redis.srem(epoch_members_key(epoch), *gone)

    async def epoch_in_use(self, epoch: str) -> bool:
        return bool(await self.redis.scard(epoch_members_key(epoch)))

    async def wrapped_under(self, epoch: str) -> list[str]:
        """Every interview with a data key wrapped under ``epoch``'s KEK in its meta or an
        archived attempt's, found by scanning the metas themselves: the month's set is a
        Redis key like any other, and one emptied by someone who can write to Redis must
        not get a KEK destroyed that live data needs."""
        holders: set[str] = set()
        metas: list[tuple[str, str]] = []  # (key, interview id)
        async for name in self.redis.scan_iter(match="{iv:*}*meta", count=1000):
            found = META_KEY.fullmatch(name)
            if found:
                metas.append((name, found.group(1)))
        for start in range(0, len(metas), 1000):
            batch = metas[start : start + 1000]
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, _ in batch:
                    pipe.hget(name, "dek")
                deks = await pipe.execute()
            for (_, iv_id), dek in zip(batch, deks, strict=True):
                if dek and epoch_of_data_key(dek) == epoch:
                    holders.add(iv_id)
        return sorted(holders)

    async def keep_epoch(self, epoch: str, holders: list[str]) -> None:
        """Put ``holders`` back in the month's set and take the destruction mark back."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(epoch_members_key(epoch), *holders)
            pipe.delete(epoch_destroyed_key(epoch))
            await pipe.execute()

    async def retire_epoch(self, epoch: str, now: int) -> bool:
        """Mark ``epoch`` destroyed if no interview is wrapped under its KEK; True: the
        caller destroys the KEK file (False: one is, and the mark is taken back)."""
        await self.redis.set(epoch_destroyed_key(epoch), str(now))
        if not await self.redis.scard(epoch_members_key(epoch)):
            return True
        await self.redis.delete(epoch_destroyed_key(epoch))
        return False

    # --- persistence: no copy of erased data left in Redis' own files ------------------------

    async def rewrite_persistence(self, timeout_s: float) -> str:
        """Have Redis rewrite its files (the AOF, and the RDB when it keeps one) from what it
        holds now, so they keep no copy of what was just deleted, and wait for that.

        Returns "rewritten", "not_persisted" (this Redis keeps no files), "pending" (not
        done within ``timeout_s``) or "failed: <why>". Callers that ask while a rewrite runs
        share the next one (the running one may have started before their deletion)."""
        asked = self._rewrites_started
        async with self._rewrite_lock:
            if self._rewrites_started > asked and self._last_rewrite == "rewritten":
                return self._last_rewrite  # one that began after we asked has finished
            self._rewrites_started += 1
            deadline = time.monotonic() + timeout_s
            try:
                self._last_rewrite = await self._rewrite(deadline)
            except redis.exceptions.RedisError as exc:
                self._last_rewrite = f"failed: {exc}"
            return self._last_rewrite

    async def _rewrite(self, deadline: float) -> str:
        info = await self.redis.info("persistence")
        aof = int(info.get("aof_enabled", 0)) == 1
        rdb = await self._keeps_rdb()
        if not aof and not rdb:
            return "not_persisted"
        status = "rewritten"
        if aof:
            status = await self._in_background(
                deadline,
                "BGREWRITEAOF",
                ("aof_rewrite_in_progress", "aof_rewrite_scheduled"),
                "aof_last_bgrewrite_status",
            )
        if rdb and status == "rewritten":
            status = await self._in_background(
                deadline, "BGSAVE", ("rdb_bgsave_in_progress",), "rdb_last_bgsave_status"
            )
        return status

    async def _keeps_rdb(self) -> bool:
        """Save points are set, or an RDB file written earlier (SAVE, SHUTDOWN, a replica's
        sync) is still there: it holds what it held then. The file can be seen only when
        Redis runs on this machine (the embedded one); CONFIG refused: assume one."""
        try:
            save = (await self.redis.config_get("save")).get("save") or ""
            folder = (await self.redis.config_get("dir")).get("dir", "")
            name = (await self.redis.config_get("dbfilename")).get("dbfilename", "")
        except redis.exceptions.ResponseError:
            return True
        return bool(save.strip()) or bool(folder and name and (Path(folder) / name).is_file())

    async def _in_background(
        self, deadline: float, command: str, busy: tuple[str, ...], status_field: str
    ) -> str:
        """Start ``command`` (after whatever such job already runs: it may predate the
        deletion), wait until it is done, and report how it went."""
        children = (
            "aof_rewrite_in_progress",
            "rdb_bgsave_in_progress",
            "module_fork_in_progress",
            *busy,
        )
        pause = 0.05
        while True:
            try:
                await self.redis.execute_command(command)
                break
            except redis.exceptions.ResponseError as exc:
                text = str(exc).lower()
                if "in progress" not in text and "child" not in text:
                    return f"failed: {command}: {exc}"
            if not await self._wait_idle(deadline, children):
                return "pending"
            # Redis named a child that INFO does not show (one of another kind, or gone
            # meanwhile): try again after a pause, never past the deadline
            if time.monotonic() >= deadline:
                return "pending"
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        if not await self._wait_idle(deadline, busy):
            return "pending"
        result = (await self.redis.info("persistence")).get(status_field)
        return "rewritten" if result == "ok" else f"failed: {command}: {status_field} {result}"

    async def _wait_idle(self, deadline: float, fields: tuple[str, ...]) -> bool:
        pause = 0.02
        while True:
            info = await self.redis.info("persistence")
            if not any(int(info.get(f, 0)) for f in fields):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(pause)  # a fork and a full write: poll, backing off
            pause = min(pause * 2, 0.5)

    async def chunks(self, iv_id: str, attempt: str = "") -> list[dict[str, Any]]:
        """Every stored chunk in arrival order, opened; text chunks as str, binary as bytes.

        ``attempt``: "" for the current attempt, "a1", "a2"... for ones kept after a reset.
        """
        rows = raw_rows(
            await self.raw.xrange(key(iv_id, f"{attempt}:chunks" if attempt else "chunks"))
        )
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
                chunk["data"] = open_chunk(self.cipher_for(iv_id, text_value(dek) or ""), number, f)
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
        for field, value in text_hash(await self.redis.hgetall(key(iv_id, "mediacount"))).items():
            q, _, what = field.partition(":")
            c = counts.setdefault(int(q), {"frames": 0, "audio_s": 0.0})
            if what == "frames":
                c["frames"] = int(value)
            else:
                c["audio_s"] = round(int(value) / 1000, 2)
        return counts

    async def media(self, iv_id: str, q: int | None = None) -> list[dict[str, Any]]:
        """The stored media entries (JPEG frames, PCM seconds) of the current attempt, opened."""
        rows = raw_rows(await self.raw.xrange(key(iv_id, "media")))
        if not rows:
            return []
        dek, attempt = await self.redis.hmget(key(iv_id, "meta"), ["dek", "attempt"])
        out = []
        for rid, f in rows:
            if q is not None and int(f[b"q"]) != q:
                continue
            try:
                data = open_media(
                    self.cipher_for(iv_id, text_value(dek) or ""), int(attempt or 1), f
                )
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

    async def add_media(
        self,
        iv_id: str,
        cipher: RecordCipher,
        entry: dict[str, Any],
        data: bytes,
    ) -> None:
        """Keep one media entry (``entry``: attempt, q, kind, session, n, level, t), sealed,
        and count it in ``{iv}:mediacount``."""
        kind, q = entry["kind"], entry["q"]
        purpose = media_purpose(entry["attempt"], q, kind, entry["session"], entry["n"])
        counted = "frames" if kind == "jpeg" else "audio_ms"
        amount = 1 if kind == "jpeg" else len(data) * 1000 // PCM_BYTES_PER_S
        await self.redis.hincrby(key(iv_id, "mediacount"), f"{q}:{counted}", amount)
        await self.raw.xadd(
            key(iv_id, "media"),
            {
                "q": q,
                "k": kind,
                "s": entry["session"],
                "n": entry["n"],
                "lvl": entry["level"],
                "d": cipher.seal(purpose, data),
                "t": entry["t"],
            },
        )

    async def language(self, iv_id: str) -> str:
        """The interview's language (zh-CN, en), kept with the contact details."""
        return str(await self.redis.hget(key(iv_id, "contact"), "lang") or "")

    async def audio_ms(self, iv_id: str, q: int) -> int:
        """Milliseconds of audio stored for answer ``q`` (counted as written)."""
        return int(await self.redis.hget(key(iv_id, "mediacount"), f"{q}:audio_ms") or 0)

    async def answers(self, iv_id: str, attempt: str = "") -> dict[int, dict[str, Any]]:
        raw = await self.redis.hgetall(key(iv_id, f"{attempt}:answers" if attempt else "answers"))
        return {int(q): json.loads(v) for q, v in raw.items()}

    async def events(
        self, iv_id: str, after: str = "-", count: int | None = None
    ) -> list[dict[str, Any]]:
        start = "-" if after == "-" else f"({after}"
        rows = text_rows(await self.redis.xrange(key(iv_id, "events"), min=start, count=count))
        return [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]

    async def oplog(self, iv_id: str) -> list[dict[str, Any]]:
        rows = text_rows(await self.redis.xrange(key(iv_id, "log")))
        entries = [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]
        return await self.open_personal(entries, iv_id)

    # --- transcripts of spoken answers ---------------------------------------------------
    # One JSON record per answer (server/transcribe.py makes it): {"text", "language",
    # "engine", "model", "segments": [{"start_ms", "end_ms", "text", "words": [{"start_ms",
    # "end_ms", "word"}]}], "audio_ms", "speech_ms", "pauses": [{"start_ms", "end_ms"}],
    # "pause_min_ms", "made_ms"}; times from the start of the answer's audio. Sealed like
    # the chunks it comes from, bound to its question and attempt.

    async def save_transcript(
        self, iv_id: str, attempt: int, q: int, record: dict[str, Any]
    ) -> bool:
        """Keep ``record`` as the transcript of answer ``q`` of ``attempt``; False (nothing
        written) when the interview moved to another attempt or was erased meanwhile."""
        dek = text_value(await self.redis.hget(key(iv_id, "meta"), "dek"))
        if not dek:
            return False
        sealed = self.cipher_for(iv_id, dek).seal_text(
            f"transcript|a{attempt}|{q}", json.dumps(record, ensure_ascii=False)
        )
        written = await self._save_transcript(
            keys=[key(iv_id, "meta"), key(iv_id, "transcripts")], args=[attempt, q, sealed]
        )
        return bool(int(written))

    async def transcripts(self, iv_id: str) -> dict[int, dict[str, Any]]:
        """The interview's transcripts by question (current attempt); one that does not
        open is ``{"unreadable": ["transcript"]}``."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key(iv_id, "transcripts"))
            pipe.hmget(key(iv_id, "meta"), ["dek", "attempt"])
            stored, (dek, attempt) = await pipe.execute()
        opened: dict[int, dict[str, Any]] = {}
        for q, sealed in stored.items():
            try:
                raw = self.cipher_for(iv_id, dek or "").open_text(
                    f"transcript|a{attempt or 1}|{q}", sealed
                )
                opened[int(q)] = json.loads(raw)
            except UNREADABLE as exc:
                self.report_unreadable(iv_id, f"transcript of question {q}", exc)
                opened[int(q)] = {"unreadable": ["transcript"]}
        return opened

    # --- transcription jobs (server/transcribe.py) ------------------------------------------
    # At least once: a job is read by one worker of the group and acknowledged once its
    # transcript is saved (or it is dropped, or given up); one held by a worker that stopped
    # renewing its hold is claimed by another. Jobs wait in TRANSCRIBE_LATER until due.

    async def set_transcription_state(
        self, iv_id: str, attempt: int, q: int, state: dict[str, Any]
    ) -> bool:
        """Record how answer ``q``'s transcription stands; like a transcript, never for
        another attempt nor after an erasure (the same guarded write)."""
        written = await self._save_transcript(
            keys=[key(iv_id, "meta"), key(iv_id, "asr")], args=[attempt, q, json.dumps(state)]
        )
        return bool(int(written))

    async def transcription_states(self, iv_id: str) -> dict[int, dict[str, Any]]:
        raw = await self.redis.hgetall(key(iv_id, "asr"))
        return {int(q): json.loads(v) for q, v in raw.items()}

    async def queue_transcription(self, job: dict[str, Any], due_ms: int) -> None:
        await self.redis.zadd(TRANSCRIBE_LATER, {json.dumps(job, sort_keys=True): due_ms})

    async def move_due_transcriptions(self, now_ms: int, limit: int = 100) -> int:
        return int(
            await self._move_due_jobs(
                keys=[TRANSCRIBE_LATER, TRANSCRIBE_JOBS], args=[now_ms, limit]
            )
        )

    async def transcription_group(self) -> None:
        """The consumer group, made once (by whichever worker comes first)."""
        try:
            await self.redis.xgroup_create(TRANSCRIBE_JOBS, TRANSCRIBERS, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_transcription_jobs(
        self, consumer: str, count: int, block_ms: int
    ) -> list[tuple[str, dict[str, Any]]]:
        reply = await self.redis.xreadgroup(
            TRANSCRIBERS, consumer, {TRANSCRIBE_JOBS: ">"}, count=count, block=block_ms
        )
        return [(rid, json.loads(f["job"])) for _, rows in text_streams(reply) for rid, f in rows]

    async def claim_stale_transcriptions(
        self, consumer: str, lease_ms: int, count: int = 10
    ) -> list[tuple[str, dict[str, Any]]]:
        """Jobs whose worker has not renewed its hold for ``lease_ms``: now ``consumer``'s."""
        reply = await self.redis.xautoclaim(
            TRANSCRIBE_JOBS, TRANSCRIBERS, consumer, lease_ms, "0-0", count=count
        )
        return [(rid, json.loads(f["job"])) for rid, f in reply[1] if f]

    async def hold_transcription(self, consumer: str, job_id: str) -> None:
        """Renew ``consumer``'s hold on a job it is working on (its idle time starts again)."""
        await self.redis.xclaim(TRANSCRIBE_JOBS, TRANSCRIBERS, consumer, 0, [job_id], justid=True)

    async def transcription_done(self, job_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(TRANSCRIBE_JOBS, TRANSCRIBERS, job_id)
            pipe.xdel(TRANSCRIBE_JOBS, job_id)
            await pipe.execute()

    async def transcription_again(self, job_id: str, job: dict[str, Any], due_ms: int) -> None:
        """Put a job back to wait until ``due_ms`` (a retry), in place of the one held."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(TRANSCRIBE_LATER, {json.dumps(job, sort_keys=True): due_ms})
            pipe.xack(TRANSCRIBE_JOBS, TRANSCRIBERS, job_id)
            pipe.xdel(TRANSCRIBE_JOBS, job_id)
            await pipe.execute()

    async def transcription_given_up(
        self, job_id: str, job: dict[str, Any], reason: str, now_ms: int
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            fields: dict[FieldT, EncodableT] = {
                "job": json.dumps(job, sort_keys=True),
                "reason": reason,
                "t": now_ms,
            }
            pipe.xadd(TRANSCRIBE_DEAD, fields, maxlen=DEAD_JOBS_KEPT, approximate=True)
            pipe.xack(TRANSCRIBE_JOBS, TRANSCRIBERS, job_id)
            pipe.xdel(TRANSCRIBE_JOBS, job_id)
            await pipe.execute()

    async def transcriptions_held(self) -> list[dict[str, Any]]:
        """Jobs read and not acknowledged: id, consumer, idle ms, deliveries."""
        rows = await self.redis.xpending_range(TRANSCRIBE_JOBS, TRANSCRIBERS, "-", "+", 1000)
        return [
            {
                "id": r["message_id"],
                "consumer": r["consumer"],
                "idle_ms": r["time_since_delivered"],
                "deliveries": r["times_delivered"],
            }
            for r in rows
        ]

    # --- personal data in log entries -----------------------------------------------------
    # The operation log is append-only and MAC-chained: what is written there stays. So the
    # personal parts of an entry (the masked identity proof, HR's note on an end) are sealed
    # with the interview's data key: readable while the interview is, gone with its erasure.

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

    async def interview_ids(self, org: str | None = None) -> list[str]:
        index = f"org:{org}:interviews" if org else "interviews"
        return texts(await self.redis.zrange(index, 0, -1))

    async def metas(self, ids: list[str]) -> list[dict[str, str]]:
        """Many meta hashes in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hgetall(key(iv_id, "meta"))
            return await pipe.execute()

    async def org_log(self, org: str, after: str = "-", count: int = 1000) -> list[dict[str, Any]]:
        """The newest ``count`` entries at or after ``after``, oldest first."""
        rows = text_rows(await self.redis.xrevrange(org_log_keys(org)[0], min=after, count=count))
        rows.reverse()
        entries = [{"id": rid, "t": int(f["t"]), **json.loads(f["e"])} for rid, f in rows]
        return await self.open_personal(entries)

    # --- an interview's smaller records (the report, review, contact and media wings) ---

    # --- the notification outbox (server/notify.py: notifications and ATS webhooks) ----------

    async def queue_notification(
        self, iv_id: str, status: dict[str, Any], sealed: str | None
    ) -> None:
        """Record a notification's state (listed with the interview) and, unless it failed
        before it could be queued (``sealed`` None), put it on the outbox."""
        msg_id = status["id"]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"notify:status:{msg_id}", json.dumps(status), ex=NOTIFY_STATUS_TTL_S)
            pipe.rpush(key(iv_id, "notifications"), msg_id)
            if sealed is not None:
                pipe.xadd(NOTIFY_OUTBOX, {"m": sealed})
            await pipe.execute()

    async def notification_statuses(self, iv_id: str) -> list[dict[str, Any]]:
        ids = texts(await self.redis.lrange(key(iv_id, "notifications"), 0, -1))
        raw = await self.redis.mget([f"notify:status:{i}" for i in ids]) if ids else []
        return [json.loads(r) for r in raw if r]

    async def notification_status(self, msg_id: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            text_value(await self.redis.get(f"notify:status:{msg_id}")) or "{}"
        )
        return loaded

    async def set_notification_status(self, msg_id: str, status: dict[str, Any]) -> None:
        await self.redis.set(f"notify:status:{msg_id}", json.dumps(status), ex=NOTIFY_STATUS_TTL_S)

    async def notification_sent(self, msg_id: str) -> bool:
        """Whether its provider accepted it before (then it is never sent again)."""
        return bool(await self.redis.exists(f"notify:done:{msg_id}"))

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
            pipe.set(f"notify:done:{msg_id}", "1", ex=NOTIFY_STATUS_TTL_S)
            pipe.set(f"notify:status:{msg_id}", json.dumps(status), ex=NOTIFY_STATUS_TTL_S)
            pipe.xack(NOTIFY_OUTBOX, NOTIFY_SENDERS, entry_id)
            pipe.xdel(NOTIFY_OUTBOX, entry_id)
            await pipe.execute()

    async def contact(self, iv_id: str) -> dict[str, str]:
        """How to reach the candidate: lang, and the sealed phone and e-mail."""
        return text_hash(await self.redis.hgetall(key(iv_id, "contact")))

    # --- the server itself ------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise StoreError unless Redis answers."""
        await self.redis.ping()

    async def fsync_by_waitaof(self) -> bool:
        """For HUB_DURABILITY=fsync: True when writes should wait with WAITAOF (Redis
        ≥ 7.2), False when Redis fsyncs every write itself (appendonly yes, appendfsync
        always); RuntimeError when it can do neither."""
        try:
            await self.redis.execute_command("WAITAOF", 0, 0, 0)
            return True
        except redis.exceptions.ResponseError:
            fsync = (await self.redis.config_get("appendfsync")).get("appendfsync")
            aof = (await self.redis.config_get("appendonly")).get("appendonly")
            if aof == "yes" and fsync == "always":
                return False  # every write is on disk before Redis answers
            raise RuntimeError(
                "HUB_DURABILITY=fsync needs Redis ≥ 7.2 (WAITAOF) or appendonly yes with "
                "appendfsync always; this Redis has neither"
            ) from None

    def control_subscription(self) -> PubSub:
        """A subscription for the control channel (subscribe, listen, aclose)."""
        return self.redis.pubsub(ignore_subscribe_messages=True)

    async def attempt_meta(self, iv_id: str, attempt: int) -> dict[str, str]:
        """The meta an attempt kept by a reset had when it was archived (with ``id``)."""
        meta = text_hash(await self.redis.hgetall(key(iv_id, f"a{attempt}:meta")))
        return {**meta, "id": iv_id} if meta else {}

    async def meta_field(self, iv_id: str, field: str) -> str:
        return text_value(await self.redis.hget(key(iv_id, "meta"), field)) or ""

    async def set_meta_field(self, iv_id: str, field: str, value: str) -> None:
        """One field the state machine does not own (``report_auto``...)."""
        await self.redis.hset(key(iv_id, "meta"), field, value)

    async def count_media_entry(self, iv_id: str) -> int:
        """One more stored frame or audio second of the interview: the count so far."""
        return int(await self.redis.hincrby(key(iv_id, "meta"), "media_entries", 1))

    async def contact_lang(self, iv_id: str) -> str:
        """The candidate's language (zh-CN unless the invitation said)."""
        return text_value(await self.redis.hget(key(iv_id, "contact"), "lang")) or "zh-CN"

    async def set_contact(self, iv_id: str, contact: dict[str, str]) -> None:
        await self.redis.hset(key(iv_id, "contact"), mapping=as_fields(contact))

    async def transcribed_questions(self, iv_id: str) -> list[int]:
        return [int(q) for q in texts(await self.redis.hkeys(key(iv_id, "transcripts")))]

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
        archived = f"a{attempt}:reports" if attempt else "reports"
        reports = key(iv_id, archived)
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

    async def webhook(self, org: str) -> dict[str, str]:
        """The organisation's ATS webhook: url, events (comma-separated), generation of
        its signing secret, when that was made; "" unset (server/webhooks.py)."""
        fields = ["webhook_url", "webhook_events", "webhook_gen", "webhook_secret_ms"]
        values = await self.redis.hmget(f"org:{org}:settings", fields)
        return {
            f.removeprefix("webhook_"): text_value(v) or ""
            for f, v in zip(fields, values, strict=True)
        }

    async def set_webhook(self, org: str, changes: dict[str, str]) -> None:
        """Set the webhook's fields (keys as ``webhook`` returns them); "" url removes it."""
        mapping = {f"webhook_{k}": v for k, v in changes.items()}
        await self.redis.hset(f"org:{org}:settings", mapping=as_fields(mapping))

    async def next_webhook_generation(self, org: str) -> int:
        """A new signing secret's generation (the old secret stops signing at once)."""
        return int(await self.redis.hincrby(f"org:{org}:settings", "webhook_gen", 1))

    async def note_webhook_delivery(self, org: str, msg_id: str, keep: int = 100) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(f"org:{org}:webhookdeliveries", msg_id)
            pipe.ltrim(f"org:{org}:webhookdeliveries", 0, keep - 1)
            await pipe.execute()

    async def webhook_deliveries(self, org: str) -> list[dict[str, Any]]:
        """The newest deliveries' states, newest first (an erased interview's are gone)."""
        ids = texts(await self.redis.lrange(f"org:{org}:webhookdeliveries", 0, -1))
        raw = await self.redis.mget([f"notify:status:{i}" for i in ids]) if ids else []
        return [json.loads(r) for r in raw if r]

    async def person_interviews(self, person_hash: str) -> set[str]:
        return text_set(await self.redis.smembers(f"person:{person_hash}"))

    # --- writes -----------------------------------------------------------------------

    async def create(
        self, iv_id: str, snap: Snapshot, static: dict[str, str], person_hashes: list[str], now: int
    ) -> None:
        mapping = {**static, **snapshot_to_hash(snap), "created_ms": str(now)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key(iv_id, "meta"), mapping=as_fields(mapping))
            pipe.zadd("interviews", {iv_id: now})
            pipe.zadd(f"org:{static['org']}:interviews", {iv_id: now})
            for h in person_hashes:
                pipe.sadd(f"person:{h}", iv_id)
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
            prefix = f"a{archive_attempt}:"
            keys.append(key(iv_id, prefix + "meta"))
            for part in ATTEMPT_PARTS:
                keys += [key(iv_id, part), key(iv_id, prefix + part)]
        result = await self._apply(keys=keys, args=args)
        if int(result[0]) == 2:
            self._log_floor[scope] = str(result[1])  # someone wrote ids past the head
        if int(result[0]) != 1:
            return None
        if sealed:
            self._log_appended(scope, new_head)
        return [str(x) for x in result[2:]]

    # --- the operation logs (server/audit.py: sealed here; server/anchors.py: anchored) ---

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
        for pattern, kind in (("{iv:*}:log", "iv"), ("{org:*}:log", "org")):
            async for name in self.redis.scan_iter(match=pattern, count=1000):
                inner = name[len(kind) + 2 : -len("}:log")]
                if "}" not in inner:  # not some other key that happens to end in ":log"
                    scopes.append(f"{kind}:{inner}")
        return sorted(set(scopes))

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
        await self.redis.zadd("refusalsums", {iv_id: now + interval_ms}, nx=True)
        return False

    async def unlogged_refusals_due(self, now: int, limit: int = 100) -> list[str]:
        """Interviews whose unlogged refusals are due to be summed up."""
        return texts(await self.redis.zrangebyscore("refusalsums", 0, now, start=0, num=limit))

    async def take_unlogged_refusals(self, iv_id: str) -> tuple[dict[str, str], list[str]]:
        """The interview's unlogged refusal counts and their newest addresses, taken at
        once (({}, []): none); those counted from now on are summed up next time."""
        await self.redis.zrem("refusalsums", iv_id)  # first: a later count schedules anew
        counts, addresses = key(iv_id, "refusals"), key(iv_id, "refusaladdrs")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(counts)
            pipe.zrange(addresses, 0, -1)
            pipe.delete(counts, addresses)
            taken, where, _ = await pipe.execute()
        return dict(taken), sorted(where)

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
        return texts(await self.redis.zrangebyscore("timers", 0, now, start=0, num=limit))

    # --- hub leases: sessions of a hub that died are released by the others ----------------

    async def hub_alive(self, hub_id: str, lease_s: float) -> bool:
        """Renew the hub's lease; False when it had lapsed (or never existed) before."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"hub:{hub_id}:alive", "1", px=int(lease_s * 1000), get=True)
            pipe.sadd("hubs", hub_id)
            before, _ = await pipe.execute()
        return before is not None

    async def sessions_of(self, ids: list[str]) -> list[str]:
        """The session holding each interview now ("" when nobody holds it)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hget(key(iv_id, "meta"), "session")
            return [s or "" for s in await pipe.execute()]

    async def hub_holds(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.sadd(f"hub:{hub_id}:sockets", f"{iv_id} {session}")

    async def hub_released(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.srem(f"hub:{hub_id}:sockets", f"{iv_id} {session}")

    async def hub_gone(self, hub_id: str) -> None:
        """A hub stopping: its lease ends now, so what it still held is released at once."""
        await self.redis.delete(f"hub:{hub_id}:alive")

    async def dead_hubs(self) -> list[str]:
        hubs = sorted(text_set(await self.redis.smembers("hubs")))
        if not hubs:
            return []
        alive = await self.redis.mget([f"hub:{h}:alive" for h in hubs])
        return [h for h, a in zip(hubs, alive, strict=True) if a is None]

    async def hub_sockets(self, hub_id: str) -> list[tuple[str, str]]:
        """(interview id, session) of every socket the hub held when it was last seen."""
        members = text_set(await self.redis.smembers(f"hub:{hub_id}:sockets"))
        return [(iv_id, session) for iv_id, session in (m.split(" ", 1) for m in members)]

    async def hub_is_dead(self, hub_id: str) -> bool:
        return not await self.redis.exists(f"hub:{hub_id}:alive")

    async def hub_socket_released(self, hub_id: str, iv_id: str, session: str) -> None:
        await self.redis.srem(f"hub:{hub_id}:sockets", f"{iv_id} {session}")

    async def forget_hub(self, hub_id: str) -> bool:
        """Forget a dead hub whose sockets were all released; False if it lives again."""
        keys = [f"hub:{hub_id}:alive", f"hub:{hub_id}:sockets", "hubs"]
        return bool(await self._forget_hub(keys=keys, args=[hub_id]))

    async def publish_control(self, message: dict[str, Any]) -> None:
        await self.redis.publish(CONTROL_CHANNEL, json.dumps(message))

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
