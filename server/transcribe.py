"""The transcription worker: spoken answers to text, off the hot path.

When a question closes (or the interview ends while one is open) and its answer has stored
audio, ``Transcription.on_change`` queues a job ``{iv, attempt, q, tries}`` due a little later
(HUB_ASR_SETTLE_MS: the answer's last second of audio lands). Workers, in the serve process
(HUB_ASR_IN_HUB) or as ``interview-hub transcribe`` processes, share the Redis stream
``transcribe:jobs`` through one consumer group:

- at least once: a job is acknowledged only after its transcript is saved (or it is dropped:
  the interview was erased or moved to another attempt; or given up);
- a worker renews its hold on the job it works on every third of HUB_ASR_LEASE_S; a job
  held longer than that without renewal (its worker died, its hub restarted) is claimed by
  another worker and counts as a try;
- a failure is tried again after a back-off doubling from HUB_ASR_RETRY_BASE_S, up to
  HUB_ASR_MAX_TRIES tries; then the job is given up (``transcribe:dead``) and HR sees the
  answer's transcription as ``failed`` with the reason;
- idempotent per answer: a repeated job writes the same field again, and the store refuses
  a transcript for another attempt or an erased interview.

The model runs in a child process (one, started on the first job, the model loaded there
once), so the hub's event loop and its GIL never carry it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import socket
import time
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from protocol.interview import Decision
from server import asr
from server.recording import start_ms
from server.settings import Settings
from server.store import Store, StoreRefused

if TYPE_CHECKING:
    from server.reports import Reports

log = logging.getLogger("interview_hub.transcribe")

READ_BLOCK_MS = 1000  # a worker waits this long for a job, then moves due ones and claims
# how long a job's end waits for its hold-renewing task to stop
HOLD_STOP_S = 5.0
REASON_CHARS = 300


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Transcription:
    """Queues the jobs: hooked to the candidate service's changes (like reports)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def on_change(self, iv_id: str, meta: dict[str, str], decision: Decision) -> None:
        """After a change: every answer it closed is queued if it has audio. The state
        machine closes the open question on every way out of an interview in progress
        (finished, timed out, exit, HR's end: an ``answer_closed`` fact each), so the last
        answer is among them. Never raises: the chunk path does not wait on it."""
        try:
            closed = {int(f["q"]) for f in decision.facts if f.get("kind") == "answer_closed"}
            for q in sorted(closed):
                await self.queue(iv_id, int(meta.get("attempt", 1)), q)
        except Exception:
            log.exception("could not queue the transcription of %s", iv_id)

    async def queue(self, iv_id: str, attempt: int, q: int) -> bool:
        if await self.store.audio_ms(iv_id, q) <= 0:
            return False  # a typed answer, or no microphone
        job = {"iv": iv_id, "attempt": attempt, "q": q, "tries": 0}
        await self.store.set_transcription_state(iv_id, attempt, q, {"status": "pending"})
        await self.store.queue_transcription(job, now_ms() + self.settings.asr_settle_ms)
        return True


# --- the model's process -------------------------------------------------------------------

_engine: asr.Engine | None = None


def _start_engine(settings: Settings) -> None:
    global _engine
    # the model yields the CPU to the hub and Redis when they share it (measured: without
    # this a worker beside Redis took chunk acks' p99 from ~10 ms to ~770 ms)
    os.nice(settings.asr_nice)
    _engine = asr.engine_for(settings)


def _transcribe_in_child(pcm: bytes, lang: str, pause_ms: int, made_ms: int) -> dict[str, Any]:
    if _engine is None:
        raise asr.ModelError("the transcription engine is off")
    try:
        return asr.transcribe_answer(_engine, pcm, lang, pause_ms, made_ms)
    except Exception as exc:
        # as plain text: some exceptions (httpx's) do not survive the trip back by pickle,
        # which would take the whole process pool down with them
        raise TranscriptionFailed(f"{type(exc).__name__}: {exc}") from None


class TranscriptionFailed(RuntimeError):
    """The engine failed on one answer (the message says how)."""


class EngineProcess:
    """One child process holding the engine; started again if it dies."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_engine,
                initargs=(self.settings,),
            )
        return self._pool

    async def transcribe(self, pcm: bytes, lang: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        pause_ms = self.settings.asr_pause_ms
        try:
            # bounded: a child that never answers (seen once: the job lost between the
            # pool and its process) must not hold the worker, nor its job, for ever
            return await asyncio.wait_for(
                loop.run_in_executor(
                    self._executor(), _transcribe_in_child, pcm, lang, pause_ms, now_ms()
                ),
                self.settings.asr_timeout_s,
            )
        except TimeoutError:
            self.close()  # the next job starts a new process
            raise TranscriptionFailed(
                f"no answer from the engine within {self.settings.asr_timeout_s:.0f} s"
            ) from None
        except BrokenProcessPool:
            self.close()  # the next job starts a new one
            raise

    def pids(self) -> list[int]:
        """The child's process id (none before the first job)."""
        if self._pool is None:
            return []
        return [p.pid for p in getattr(self._pool, "_processes", {}).values() if p.pid]

    def close(self) -> None:
        """Stop the child now, even mid-answer: that job is not acknowledged, so another
        worker takes it after the lease (a hub's shutdown does not wait on the model)."""
        if self._pool is not None:
            children = list(getattr(self._pool, "_processes", {}).values())
            for child in children:
                child.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)  # its queues are released
            self._pool = None


class Transcriber:
    """One worker of the group: reads, claims, transcribes, saves, acknowledges."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        engine: EngineProcess | None = None,
        reports: Reports | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        # told when a transcript lands, so an automatic report can score it
        self.reports = reports
        self.engine = engine or EngineProcess(settings)
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lease_ms = int(settings.asr_lease_s * 1000)
        self.done = 0  # jobs finished by this worker (saved, dropped or given up)

    async def run(self) -> None:
        """Work for ever (run under the supervisor, or by ``interview-hub transcribe``)."""
        try:
            while True:
                await self.step(READ_BLOCK_MS)
        finally:
            self.engine.close()

    async def step(self, block_ms: int) -> int:
        """One round: move due jobs in, take over stale ones, then work on what is read.
        The consumer group is made first if it is not there (a Redis that lost its data
        while the worker ran has none)."""
        try:
            return await self._round(block_ms)
        except StoreRefused as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.store.transcription_group()
            return await self._round(block_ms)

    async def _round(self, block_ms: int) -> int:
        await self.store.move_due_transcriptions(now_ms())
        for job_id, job in await self.store.claim_stale_transcriptions(
            self.consumer, self.lease_ms
        ):
            # its worker stopped (killed, restarted) mid-job: that counts as a try
            log.warning("took over transcription %s of %s (its worker stopped)", job_id, job)
            await self._failed(job_id, job, "the worker stopped while transcribing")
        jobs = await self.store.read_transcription_jobs(self.consumer, 1, block_ms)
        for job_id, job in jobs:
            await self.handle(job_id, job)
        return len(jobs)

    async def handle(self, job_id: str, job: dict[str, Any]) -> None:
        iv_id, attempt, q = str(job["iv"]), int(job["attempt"]), int(job["q"])
        meta = await self.store.meta(iv_id)
        if not meta.get("dek") or int(meta.get("attempt", 1)) != attempt:
            log.info("transcription of %s q%d dropped: erased, or another attempt", iv_id, q)
            await self._finish(job_id)
            return
        stop_holding = asyncio.Event()
        holding = asyncio.create_task(self._keep_hold(job_id, stop_holding))
        try:
            entries = await self.store.media(iv_id, q)
            pcm = asr.answer_audio(entries)
            if not pcm:
                await self.store.set_transcription_state(iv_id, attempt, q, {"status": "none"})
                await self._finish(job_id)
                return
            record = await self.engine.transcribe(pcm, await self.store.language(iv_id))
            # the recording HR plays may start earlier (a camera frame before the first
            # sound): where the transcript's time 0 is in it
            record["recording_offset_ms"] = start_ms(entries, ("pcm16k",)) - start_ms(entries)
            saved = await self.store.save_transcript(iv_id, attempt, q, record)
            if saved:
                await self.store.set_transcription_state(iv_id, attempt, q, {"status": "done"})
            else:
                log.info("transcript of %s q%d not kept: erased, or another attempt", iv_id, q)
            await self._finish(job_id)
            if saved and self.reports is not None:
                try:
                    await self.reports.after_transcription(iv_id, attempt)
                except Exception:  # the transcript is kept; HR can make the report by hand
                    log.exception("report after the transcripts of %s failed", iv_id)
        except asyncio.CancelledError:
            raise  # not acknowledged: after the lease another worker takes it
        except Exception as exc:
            log.warning("transcription of %s q%d failed: %s", iv_id, q, exc)
            why = (
                str(exc) if isinstance(exc, TranscriptionFailed) else f"{type(exc).__name__}: {exc}"
            )
            await self._failed(job_id, job, why)
        finally:
            # told by the event, not only by the cancellation: a cancellation that lands
            # inside a Redis command may come back as a connection error, and be retried
            stop_holding.set()
            holding.cancel()
            await asyncio.wait({holding}, timeout=HOLD_STOP_S)

    async def _keep_hold(self, job_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.asr_lease_s / 3)
                return
            try:
                await self.store.hold_transcription(self.consumer, job_id)
            except Exception as exc:  # Redis away: the lease may lapse; the job is redone
                log.warning("could not renew the hold on transcription %s: %s", job_id, exc)

    async def _failed(self, job_id: str, job: dict[str, Any], reason: str) -> None:
        tries = int(job.get("tries", 0)) + 1
        iv_id, attempt, q = str(job["iv"]), int(job["attempt"]), int(job["q"])
        reason = reason[:REASON_CHARS]
        state = {"tries": tries, "reason": reason, "at_ms": now_ms()}
        if tries >= self.settings.asr_max_tries:
            log.error(
                "transcription of %s q%d given up after %d tries: %s", iv_id, q, tries, reason
            )
            await self.store.set_transcription_state(
                iv_id, attempt, q, {"status": "failed", **state}
            )
            await self.store.transcription_given_up(job_id, job, reason, now_ms())
            self.done += 1
            return
        back_off_ms = int(self.settings.asr_retry_base_s * 1000 * 2 ** (tries - 1))
        await self.store.set_transcription_state(iv_id, attempt, q, {"status": "pending", **state})
        await self.store.transcription_again(
            job_id, {**job, "tries": tries}, now_ms() + back_off_ms
        )

    async def _finish(self, job_id: str) -> None:
        await self.store.transcription_done(job_id)
        self.done += 1


def check_engine(settings: Settings) -> None:
    """At start: the engine can run (its wheels installed, a URL for remote); raises
    asr.ModelError saying what is missing. The model itself is joined and hashed on the
    first job, in the worker's child process."""
    engine = asr.engine_for(settings)
    if isinstance(engine, asr.WhisperEngine):
        files = asr.MODELS[engine.model]
        for (module, _), wheel in zip(files.parts, files.wheels, strict=True):
            asr.data_dir(module, wheel)
        if files.sha256 is None:
            raise asr.ModelError(f"{engine.model} cannot be used: {files.note}")


__all__ = ["EngineProcess", "Transcriber", "Transcription", "check_engine"]
