"""End to end: the candidate's whole flow over a real socket, a real hub and real Redis."""

from __future__ import annotations

import pytest

from client.candidate import CandidateClient
from protocol.messages import Completed, QuestionStarted
from tests.conftest import PHONE, Hub


async def test_full_interview_stores_every_chunk_once(hub: Hub, make_interview, store) -> None:
    """A full interview: every answer chunk is in Redis exactly once and the state is completed."""
    iv_id, token = await make_interview(questions=3)
    async with CandidateClient(hub.ws, token, PHONE) as c:
        joined = await c.join()
        assert joined.mode == "start"
        assert joined.progress.total == 3
        for q in range(3):
            assert c.question is not None and c.question.q == q
            for i in range(5):
                await c.send_text(f"q{q}-part{i} ")
            nxt = await c.finish()
            if q < 2:
                assert isinstance(nxt, QuestionStarted)
            else:
                assert isinstance(nxt, Completed)
                assert nxt.progress.answered == 3
    chunks = await store.chunks(iv_id)
    assert [(c["q"], c["seq"]) for c in chunks] == [(q, s) for q in range(3) for s in range(1, 6)]
    assert chunks[7]["data"] == "q1-part2 "
    snap, _ = await store.snapshot(iv_id)
    assert str(snap.state) == "completed"
    assert c.close_code == 4001
