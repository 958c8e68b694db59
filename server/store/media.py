"""Media entries (camera frames, audio seconds), sealed, and their counts."""

from __future__ import annotations

from typing import Any

from server.crypto import (
    RecordCipher,
)
from server.store.base import UNREADABLE, StoreBase
from server.store.keys import (
    key,
)
from server.store.records import (
    media_purpose,
    open_media,
)
from server.store.replies import (
    raw_rows,
    text_hash,
    text_value,
)

PCM_BYTES_PER_S = 32_000  # 16 kHz, 16-bit, mono


class Media(StoreBase):
    """Media entries (camera frames, audio seconds), sealed, and their counts."""

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

    async def audio_ms(self, iv_id: str, q: int) -> int:
        """Milliseconds of audio stored for answer ``q`` (counted as written)."""
        return int(await self.redis.hget(key(iv_id, "mediacount"), f"{q}:audio_ms") or 0)

    async def count_media_entry(self, iv_id: str) -> int:
        """One more stored frame or audio second of the interview: the count so far."""
        return int(await self.redis.hincrby(key(iv_id, "meta"), "media_entries", 1))
