"""Transcripts of spoken answers, their transcription states and the transcription jobs.

One JSON record per answer (server/transcribe.py makes it): {"text", "language",
"engine", "model", "segments": [{"start_ms", "end_ms", "text", "words": [{"start_ms",
"end_ms", "word"}]}], "audio_ms", "speech_ms", "pauses": [{"start_ms", "end_ms"}],
"pause_min_ms", "made_ms"}; times from the start of the answer's audio. Sealed like
the chunks it comes from, bound to its question and attempt.

Jobs are delivered at least once: a job is read by one worker of the group and
acknowledged once its transcript is saved (or it is dropped, or given up); one held by a
worker that stopped renewing its hold is claimed by another. Jobs wait in
TRANSCRIBE_LATER until due.
"""

from __future__ import annotations

import json
from typing import Any

import redis.exceptions
from redis.typing import EncodableT, FieldT

from server.store.base import UNREADABLE, StoreBase
from server.store.keys import (
    TRANSCRIBE_DEAD,
    TRANSCRIBE_JOBS,
    TRANSCRIBE_LATER,
    TRANSCRIBERS,
    key,
)
from server.store.replies import (
    text_streams,
    text_value,
    texts,
)

DEAD_JOBS_KEPT = 10_000


class Transcripts(StoreBase):
    """Transcripts of spoken answers, their transcription states and the transcription jobs."""

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

    async def transcribed_questions(self, iv_id: str) -> list[int]:
        return [int(q) for q in texts(await self.redis.hkeys(key(iv_id, "transcripts")))]

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
