"""How records look in Redis: the snapshot as a hash, and the associated data that binds a
sealed chunk or media entry to its place (server/crypto.py seals and opens them)."""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

from protocol.interview import Snapshot, State
from server.crypto import RecordCipher, chunk_purpose

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
