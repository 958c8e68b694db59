"""What HR's live monitor reads (server/monitor.py): an interview's or organisation's
streams by offset, replayed page by page, then followed live on a connection of its own.

Entries are read as stored (bytes: chunk and media data are sealed, binary); ids as str.
"""

from __future__ import annotations

from typing import cast

from redis.typing import KeyT, StreamIdT

from server.store.base import StoreBase
from server.store.keys import iv_meta, redis_client
from server.store.replies import raw_rows, raw_streams, text_value

Fields = dict[bytes, bytes]
Entry = tuple[str, Fields]  # a stream entry: its id, its fields as stored
StreamEntries = tuple[str, list[Entry]]  # a stream's name and its new entries


class MonitorReads(StoreBase):
    """Reads of the monitored streams, through the shared (non-decoding) client."""

    async def last_entry_id(self, stream: str) -> str | None:
        """The id of the stream's newest entry (None: empty or no such stream)."""
        last = raw_rows(await self.raw.xrevrange(stream, count=1))
        return last[0][0].decode() if last else None

    async def first_entry_id(self, stream: str) -> str | None:
        """The id of the stream's oldest entry still kept (capped streams trim theirs)."""
        first = raw_rows(await self.raw.xrange(stream, count=1))
        return first[0][0].decode() if first else None

    async def entries_after(self, stream: str, after: str, count: int) -> list[Entry]:
        """Up to ``count`` entries after the id ``after`` (StoreRefused: not an id Redis
        accepts)."""
        rows = raw_rows(await self.raw.xrange(stream, min=f"({after}", count=count))
        return [(rid.decode(), f) for rid, f in rows]

    async def data_key_and_attempt(self, iv_id: str) -> tuple[str, int]:
        """The interview's stored data key ("" erased) and its current attempt."""
        dek, attempt = await self.redis.hmget(iv_meta(iv_id), ["dek", "attempt"])
        return text_value(dek) or "", int(attempt or 1)


class StreamReader:
    """One monitor's own connection for XREAD BLOCK, which holds it while it waits."""

    def __init__(self, url: str) -> None:
        # No socket timeout: redis-py would wrap every write in wait_for, which can swallow
        # the caller's cancel; the BLOCK bounds each read instead.
        self._redis = redis_client(url, decode=False, socket_timeout=None)

    async def read(self, streams: dict[str, str], count: int, block_ms: int) -> list[StreamEntries]:
        """What the streams got after their positions, waiting up to ``block_ms`` ([]:
        nothing came). STORE_AWAY when Redis is away."""
        # redis-py's mapping is invariant in its key type: it refuses a dict[str, str]
        positions = cast(dict[KeyT, StreamIdT], streams)
        result = await self._redis.xread(positions, count=count, block=block_ms)
        return [
            (stream.decode(), [(rid.decode(), fields) for rid, fields in rows])
            for stream, rows in raw_streams(result)
        ]

    async def break_read(self) -> None:
        """Drop the connection under a read that does not give way to a cancel."""
        await self._redis.connection_pool.disconnect()

    async def aclose(self) -> None:
        await self._redis.aclose()
