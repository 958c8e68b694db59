"""The store's transcripts of spoken answers: sealed at rest, bound to their attempt."""

from __future__ import annotations

from typing import Any

from server.store import Store, key

RECORD = {
    "text": "I led the migration of our billing system",
    "language": "en",
    "segments": [{"start_ms": 0, "end_ms": 2100, "text": "I led the migration", "words": []}],
}


async def test_a_transcript_is_sealed_and_reads_back(store: Store, make_interview: Any) -> None:
    """A saved transcript reads back as saved, and Redis holds none of its words in clear."""
    iv_id, _ = await make_interview()
    assert await store.save_transcript(iv_id, 1, 0, RECORD)
    assert await store.transcripts(iv_id) == {0: RECORD}
    raw = await store.raw.hget(key(iv_id, "transcripts"), "0")
    assert raw is not None and b"migration" not in raw


async def test_a_transcript_for_another_attempt_or_an_erased_interview_is_not_kept(
    store: Store, make_interview: Any
) -> None:
    """A transcript made for an attempt the interview has left, or after its data key is gone, writes nothing."""
    iv_id, _ = await make_interview()
    assert not await store.save_transcript(iv_id, 2, 0, RECORD)
    await store.redis.hdel(key(iv_id, "meta"), "dek")
    assert not await store.save_transcript(iv_id, 1, 0, RECORD)
    assert await store.redis.exists(key(iv_id, "transcripts")) == 0
