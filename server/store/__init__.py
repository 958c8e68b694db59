"""The one store: Redis. Nothing outside this package imports redis or builds a key.

``keys.py`` is the schema (every key shape, its type, who writes it, its TTL) and the one
place a key or a Redis client is made; the atomic parts are Lua scripts in ``scripts/``.
``Store`` puts the parts together, one module per domain:

    base.py         the clients, the scripts, record ciphers, the meta hash, org events
    oplog.py        the operation logs (appended, sealed personal fields)
    interviews.py   interviews made and changed by the state machine's decisions; timers
    chunks.py       answer chunks (server/writer.py batches the writes)
    media.py        camera frames and audio seconds
    transcripts.py  transcripts, transcription states and jobs
    reports.py      report versions, HR's review, candidate profiles
    orgs.py         an organisation's settings and ATS webhook
    outbox.py       the notification outbox
    lockouts.py     failed identity checks, refusals during a lock-out
    erasure.py      erasure (crypto-shredding) and what it leaves to forget
    persistence.py  Redis' own files rewritten after an erasure
    epochs.py       data-key rotation and the monthly KEKs still needed
    hubs.py         hub leases and claims
    accounts.py     HR users, role tables, sessions, the login lock-out's counters
    monitor.py      HR's live monitor: streams by offset, and its own live reader
    embedded.py     the private redis-server ``serve`` runs
    records.py      how a snapshot, a chunk and a media entry look in Redis
    replies.py      Redis' replies typed as our clients give them (casts for mypy)

The KEKs themselves are files in the key directory (server/keys.py), never in Redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from server.audit import LogKey
from server.crypto import Keyring
from server.keys import KekFiles
from server.store.accounts import AccountRecords
from server.store.base import (
    HELP_ANSWERED,
    MASKED_META,
    SEALED_META,
    UNREADABLE,
    StoreBase,
    help_request,
)
from server.store.chunks import Chunks
from server.store.epochs import ROTATION_COUNTS, KeyEpochs
from server.store.erasure import ERASING, Erasure
from server.store.hubs import HubLeases
from server.store.interviews import Interviews
from server.store.keys import (
    ATTEMPT_PARTS,
    CONTROL_CHANNEL,
    POOL_SIZE,
    STORE_AWAY,
    TRANSCRIBE_DEAD,
    TRANSCRIBE_JOBS,
    TRANSCRIBE_LATER,
    TRANSCRIBERS,
    StoreError,
    StoreRefused,
    epoch_destroyed_key,
    epoch_members_key,
    iv_chunks,
    iv_events,
    iv_media,
    key,
    log_keys,
    log_scope,
    org_events,
    redis_client,
    stream_part,
)
from server.store.lockouts import Lockouts
from server.store.media import Media
from server.store.monitor import MonitorReads
from server.store.oplog import LogConflict
from server.store.orgs import OrgSettings
from server.store.outbox import NotificationOutbox
from server.store.persistence import Persistence
from server.store.records import (
    changed_fields,
    media_purpose,
    open_chunk,
    open_media,
    snapshot_from_hash,
    snapshot_to_hash,
    time_ms,
)
from server.store.replies import (
    as_fields,
    raw_rows,
    raw_streams,
    text_hash,
    text_rows,
    text_set,
    text_streams,
    text_value,
    texts,
)
from server.store.reports import Reports
from server.store.transcripts import Transcripts


class Store(
    Interviews,
    Chunks,
    Media,
    Transcripts,
    Reports,
    OrgSettings,
    NotificationOutbox,
    Lockouts,
    Erasure,
    Persistence,
    KeyEpochs,
    HubLeases,
    AccountRecords,
    MonitorReads,
    StoreBase,
):
    """Async access to everything interview-hub keeps in Redis."""

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


__all__ = [
    "ATTEMPT_PARTS",
    "CONTROL_CHANNEL",
    "ERASING",
    "HELP_ANSWERED",
    "MASKED_META",
    "ROTATION_COUNTS",
    "SEALED_META",
    "STORE_AWAY",
    "TRANSCRIBERS",
    "TRANSCRIBE_DEAD",
    "TRANSCRIBE_JOBS",
    "TRANSCRIBE_LATER",
    "UNREADABLE",
    "LogConflict",
    "Store",
    "StoreError",
    "StoreRefused",
    "as_fields",
    "changed_fields",
    "epoch_destroyed_key",
    "epoch_members_key",
    "help_request",
    "iv_chunks",
    "iv_events",
    "iv_media",
    "key",
    "log_keys",
    "log_scope",
    "media_purpose",
    "open_chunk",
    "open_media",
    "org_events",
    "raw_rows",
    "raw_streams",
    "redis_client",
    "snapshot_from_hash",
    "snapshot_to_hash",
    "stream_part",
    "text_hash",
    "text_rows",
    "text_set",
    "text_streams",
    "text_value",
    "texts",
    "time_ms",
]
