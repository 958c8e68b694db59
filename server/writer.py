"""Batches answer chunks from every socket of a hub into pipelined script calls.

Sockets hand chunks to ``submit`` and go on reading; one task writes everything pending
in a single pipeline (``Store.append_chunk_runs``: one ``append_chunks`` call per socket
and question), and while that pipeline is in flight the next batch collects. So the round
trips to Redis grow with the number of flushes, not of chunks, and an ack is sent only
after Redis answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any, Protocol

from server.crypto import SEAL_OVERHEAD
from server.metrics import BATCH_BOUNDS, LATENCY_BOUNDS, Histogram
from server.store import Store, StoreError
from server.store.chunks import ChunkLimits, ChunkRun

log = logging.getLogger("interview_hub.writer")

RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.5, 1.0, 1.0, 2.0, 2.0, 3.0)  # ~10 s of Redis outage


class ChunkSink(Protocol):
    """What a socket exposes to the writer."""

    session: str
    interview_id: str

    def chunks_written(self, q: int, count: int, result: Any) -> None: ...


class ChunkWriter:
    def __init__(
        self,
        store: Store,
        *,
        max_chunks_per_answer: int,
        clock: Any,
        wait_fsync: bool = False,
        max_answer_bytes: int = 0,
    ) -> None:
        self.store = store
        self.limits = ChunkLimits(max_chunks_per_answer, max_answer_bytes, SEAL_OVERHEAD)
        self.clock = clock
        self.wait_fsync = wait_fsync  # add WAITAOF 1 0 0 to every pipeline
        self._pending: dict[tuple[ChunkSink, int], list[Any]] = {}
        self._wake = asyncio.Event()
        self.flushes = 0
        self.chunks = 0
        # for /metrics (server/metrics.py): bumped once per run or flush, never per chunk
        self.stored = 0  # newly stored (append_chunks.lua's fourth reply); resends are not
        self.errors = 0  # failed pipelines (each retry counts)
        self.ack_latency = Histogram(LATENCY_BOUNDS)
        self.batch_sizes = Histogram(BATCH_BOUNDS)
        self.round_trips = Histogram(LATENCY_BOUNDS)
        self.failing = False  # a write failed and is being retried (Redis away?)
        # told when writes start failing and when they work again (the hub's health)
        self.on_degraded: Callable[[str], None] = lambda why: None
        self.on_recovered: Callable[[], None] = lambda: None

    def submit(self, sink: ChunkSink, q: int, seq: int, kind: str, sealed: bytes) -> None:
        """Queue one chunk: ``kind`` "s" (text) or "b" (binary), its data already sealed."""
        batch = self._pending.get((sink, q))
        if batch is None:
            # first item: when the run arrived (time limits judge arrival, not the write)
            batch = self._pending[(sink, q)] = [self.clock()]
        batch += (seq, kind, sealed)
        self._wake.set()

    async def run(self) -> None:
        """Write what is pending, for ever. Run under the hub's supervisor: should this ever
        fail, a restart finds the batches that were pending still queued."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            if batch:
                await self._flush(batch)

    async def _flush(self, batch: dict[tuple[ChunkSink, int], list[Any]]) -> None:
        for delay in (*RETRY_DELAYS_S, None):
            started = time.perf_counter()
            try:
                results = await self._write(batch)
                self.round_trips.observe(time.perf_counter() - started)
                if self.failing:
                    log.warning("chunk writes work again")
                break
            except Exception as exc:  # Redis away, a reset link, a bug: never lose the batch
                self.errors += 1
                if delay is None:
                    log.error("chunk writes failed for ~10 s; failing %d batches", len(batch))
                    results = [exc] * len(batch)  # the sockets close; their clients resume
                    break
                if not self.failing:
                    self.failing = True
                    self.on_degraded(f"{type(exc).__name__}: {exc}")
                    if isinstance(exc, StoreError):
                        log.warning("chunk write failed (%s); retrying", exc)
                    else:
                        log.exception("chunk write failed unexpectedly; retrying")
                await asyncio.sleep(delay)
        if self.failing:  # degraded only while retrying: the next batch tries afresh
            self.failing = False
            self.on_recovered()
        self.flushes += 1
        now = self.clock()
        flushed = 0
        for ((sink, q), items), result in zip(batch.items(), results, strict=True):
            count = (len(items) - 1) // 3
            flushed += count
            if not isinstance(result, Exception) and len(result) > 3:  # the script ran
                self.stored += int(result[3])
                # the run's first chunk waited longest: an upper bound for the others
                self.ack_latency.observe(max(now - items[0], 0) / 1000, count)
            try:
                sink.chunks_written(q, count, result)
            except Exception:  # one socket's bug must not cost the others their acks
                log.exception("handing a write result to %s failed", sink.session)
        self.chunks += flushed
        self.batch_sizes.observe(flushed)

    async def _write(self, batch: dict[tuple[ChunkSink, int], list[Any]]) -> list[Any]:
        runs: list[ChunkRun] = []
        for (sink, q), (arrived, *items) in batch.items():
            # in seq order: a resend that arrived behind a newer chunk still fills the gap
            # (the hub never keeps chunks across batches; within one, order is free)
            seqs = items[0::3]
            if any(a > b for a, b in pairwise(seqs)):
                triples = sorted(zip(seqs, items[1::3], items[2::3], strict=True))
                items = [x for triple in triples for x in triple]
            runs.append((sink.interview_id, sink.session, q, arrived, items))
        return await self.store.append_chunk_runs(runs, self.limits, wait_fsync=self.wait_fsync)
