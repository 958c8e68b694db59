"""Answer chunks: written by append_chunks.lua (server/writer.py batches the calls), read
back opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from server.store.base import UNREADABLE, StoreBase
from server.store.keys import (
    attempt_key,
    key,
)
from server.store.records import (
    open_chunk,
)
from server.store.replies import (
    raw_rows,
    text_hash,
    text_value,
)

# one socket's chunks of one question: interview id, session, question, when the first
# arrived (ms), then seq, kind ("s" text | "b" binary), sealed data for each, in seq order
ChunkRun = tuple[str, str, int, int, list[Any]]


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    """What append_chunks.lua holds each answer to."""

    max_seq: int  # chunks per answer
    max_bytes: int  # sealed bytes per answer (0: no cap)
    seal_overhead: int  # what sealing adds to each chunk (not counted against max_bytes)


class Chunks(StoreBase):
    """Answer chunks, written in batches and read back opened."""

    async def append_chunks_sha(self) -> str:
        """Load the chunk script (again, after a Redis restart) and return its sha."""
        return await self.redis.script_load(self._append_source)

    async def append_chunk_runs(
        self, runs: Sequence[ChunkRun], limits: ChunkLimits, *, wait_fsync: bool = False
    ) -> list[Any]:
        """Write every run in one pipeline on the writer's own connection (one
        ``append_chunks`` call each), and with ``wait_fsync`` a WAITAOF after them.

        Returns each call's reply, or the exception it raised (a run's own failure does not
        fail the others); with ``wait_fsync``, every run's is the WAITAOF's error when the
        writes are not known to be on disk. Raises StoreError when the pipeline fails."""
        if self._append_sha is None:
            self._append_sha = await self.append_chunks_sha()
        pipe = self.writer.pipeline(transaction=False)
        for iv_id, session, q, arrived, items in runs:
            pipe.evalsha(
                self._append_sha,
                3,
                key(iv_id, "meta"),
                key(iv_id, "seqs"),
                key(iv_id, "chunks"),
                session,
                q,
                arrived,
                limits.max_seq,
                limits.max_bytes,
                limits.seal_overhead,
                *items,
            )
        if wait_fsync:
            pipe.execute_command("WAITAOF", 1, 0, 0)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in results):
            # Redis restarted and forgot the script: load it again, write again (idempotent)
            self._append_sha = await self.append_chunks_sha()
            return await self.append_chunk_runs(runs, limits, wait_fsync=wait_fsync)
        if wait_fsync:
            fsync = results.pop()
            if isinstance(fsync, Exception) or int(fsync[0]) < 1:
                error = (
                    fsync if isinstance(fsync, Exception) else RuntimeError("WAITAOF: not fsynced")
                )
                return [error] * len(results)
        return results

    async def stored_seq(self, iv_id: str, q: int) -> int:
        raw = await self.redis.hget(key(iv_id, "seqs"), str(q))
        return int(raw) if raw else 0

    async def stored_seqs(self, iv_id: str) -> dict[str, str]:
        """The seqs hash as it is: question -> last stored seq, <q>:bytes, <q>:full."""
        return text_hash(await self.redis.hgetall(key(iv_id, "seqs")))

    async def stored_chunk_count(self, iv_id: str) -> int:
        """How many chunks the current attempt's stream holds (XLEN: none are opened)."""
        return int(await self.raw.xlen(key(iv_id, "chunks")))

    async def chunks(self, iv_id: str, attempt: str = "") -> list[dict[str, Any]]:
        """Every stored chunk in arrival order, opened; text chunks as str, binary as bytes.

        ``attempt``: "" for the current attempt, "a1", "a2"... for ones kept after a reset.
        """
        rows = raw_rows(
            await self.raw.xrange(attempt_key(iv_id, int(attempt[1:]) if attempt else 0, "chunks"))
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
