"""What every part of the store shares: the clients, the Lua scripts, the interviews'
record ciphers, the meta hash and the organisation's copy of the events."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.client import PubSub

from protocol.interview import Snapshot
from server.audit import Head, LogKey
from server.crypto import CryptoError, DataKeys, Keyring, RecordCipher, epoch_of
from server.keys import KekFiles
from server.store.keys import CONTROL_CHANNEL, INTERVIEWS, key, org_events, org_interviews
from server.store.records import snapshot_from_hash
from server.store.replies import text_hash, text_value, texts

log = logging.getLogger("interview_hub.store")

SCRIPTS = Path(__file__).parent / "scripts"
# what opening a sealed record raises when it does not open (tampered with, corrupted, its
# key gone) or is not a sealed record at all (bad base64, too short)
UNREADABLE = (CryptoError, ValueError)
CIPHER_CACHE = 4096  # interviews whose unwrapped data key a process keeps
# meta fields sealed with the interview's data key (purpose "meta|<field>"), opened for display;
# the masked numbers too: beside a keyed hash, 186****5432 leaves 10^4 phones to try
MASKED_META = ("id_masked", "phone_masked")
SEALED_META = ("candidate", *MASKED_META)


# The meta field that ends a pending request to HR: set by the HR decisions that answer it.
HELP_ANSWERED = {"help_request": ""}


def help_request(meta: dict[str, str]) -> dict[str, Any]:
    """The candidate's pending request to HR, as the API shows it ({"kind": ""} for none)."""
    kind, _, since = meta.get("help_request", "").partition(":")
    return {"kind": kind, "requested_ms": int(since) if kind and since.isdigit() else 0}


class StoreBase:
    """The clients and what every part of the store shares (server/store/__init__.py puts
    the parts together as ``Store``)."""

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
        self._append_sha: str | None = None  # loaded on the first write (and after a restart)
        self._apply = redis.register_script((SCRIPTS / "apply_decision.lua").read_text())
        self._set_if_script = redis.register_script((SCRIPTS / "set_if.lua").read_text())
        self._ask_help = redis.register_script((SCRIPTS / "ask_help.lua").read_text())
        self._erase = redis.register_script((SCRIPTS / "erase_interview.lua").read_text())
        self._save_transcript = redis.register_script((SCRIPTS / "save_transcript.lua").read_text())
        self._move_due_jobs = redis.register_script((SCRIPTS / "move_due_jobs.lua").read_text())
        self._forget_hub = redis.register_script((SCRIPTS / "forget_hub.lua").read_text())
        self._release_claim = redis.register_script((SCRIPTS / "release_claim.lua").read_text())
        self._forget_org_events_script = redis.register_script(
            (SCRIPTS / "forget_org_events.lua").read_text()
        )

    async def close(self) -> None:
        for task in list(self._log_appenders.values()):
            await asyncio.gather(task, return_exceptions=True)  # what was asked is written
        await self.redis.aclose()
        await self.raw.aclose()
        if self.writer is not self.redis:
            await self.writer.aclose()

    async def meta(self, iv_id: str) -> dict[str, str]:
        """The whole meta hash ({} when there is no such interview)."""
        return text_hash(await self.redis.hgetall(key(iv_id, "meta")))

    async def snapshot(self, iv_id: str) -> tuple[Snapshot, dict[str, str]] | None:
        h = await self.meta(iv_id)
        return (snapshot_from_hash(h), h) if h else None

    async def metas(self, ids: list[str]) -> list[dict[str, str]]:
        """Many meta hashes in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for iv_id in ids:
                pipe.hgetall(key(iv_id, "meta"))
            return await pipe.execute()

    async def ask_help(self, iv_id: str, kind: str, now: int) -> tuple[int, bool]:
        """Record the candidate's request to HR of ``kind`` unless it is pending already:
        (since when it is pending, whether it already was). HR's reset, renewed link or
        granted re-entry answers it (``HELP_ANSWERED``)."""
        since, repeated = await self._ask_help(keys=[key(iv_id, "meta")], args=[kind, now])
        return int(since), bool(int(repeated))

    async def meta_field(self, iv_id: str, field: str) -> str:
        return text_value(await self.redis.hget(key(iv_id, "meta"), field)) or ""

    async def set_meta_field(self, iv_id: str, field: str, value: str) -> None:
        """One field the state machine does not own (``report_auto``...)."""
        await self.redis.hset(key(iv_id, "meta"), field, value)

    async def interview_ids(self, org: str | None = None) -> list[str]:
        index = org_interviews(org) if org else INTERVIEWS
        return texts(await self.redis.zrange(index, 0, -1))

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
                org_events(org),
                {"iv": iv_id, "src": event_id, "e": json.dumps(fact), "t": now},
                maxlen=self.events_maxlen * 10,
                approximate=True,
            )

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

    async def publish_control(self, message: dict[str, Any]) -> None:
        await self.redis.publish(CONTROL_CHANNEL, json.dumps(message))
