"""The candidate client's core without a socket: the outbox keeps every unacknowledged chunk, acks are cumulative, a resume and a seq_gap resend exactly what the server lacks, a closed or full answer sends nothing more."""

from __future__ import annotations

from protocol.client import ClientCore
from protocol.messages import AnswerSaved, ChunkAcked, Progress, QuestionStarted, Refused, SendChunk
from protocol.reasons import Reason


def question(q: int, acked_seq: int = 0) -> QuestionStarted:
    return QuestionStarted(
        q=q, text=f"Q{q}", total=6, time_limit_s=0, deadline_ms=0, acked_seq=acked_seq
    )


def refused(reason: str, expected_seq: int = 0) -> Refused:
    return Refused(reason, {"en": "", "zh-CN": ""}, "chunk", expected_seq, False)


def test_chunks_are_numbered_and_kept_until_a_cumulative_ack() -> None:
    """Chunks get seq 1, 2, 3 and stay in the outbox; ack 2 drops 1 and 2, a lower ack later changes nothing."""
    core = ClientCore()
    core.on_question(question(0))
    sent = [core.chunk(text) for text in ("a", "b", "c")]
    assert sent == [SendChunk(0, 1, "a"), SendChunk(0, 2, "b"), SendChunk(0, 3, "c")]
    core.on_ack(0, 2)
    assert list(core.outbox) == [(0, 3)] and core.acked == {0: 2}
    core.on_ack(0, 1)
    assert core.acked == {0: 2} and core.pending
    assert core.last_seq(0) == 3


def test_a_resume_resends_what_the_server_lacks_and_numbers_on_after_what_it_has() -> None:
    """After a rejoin the server's acked_seq drops what it stored; the rest of the open question goes again in order; a question closed meanwhile is dropped, and the next chunk never reuses a stored seq."""
    core = ClientCore()
    core.on_question(question(0))
    for text in ("a", "b", "c", "d"):
        core.chunk(text)
    core.outbox[(5, 1)] = "stale"  # of a question that closed while away
    core.on_question(question(0, acked_seq=2))
    assert core.resume() == [SendChunk(0, 3, "c"), SendChunk(0, 4, "d")]
    assert (5, 1) not in core.outbox
    fresh = ClientCore()  # another device without the outbox
    fresh.on_question(question(0, acked_seq=7))
    assert fresh.chunk("e") == SendChunk(0, 8, "e")


def test_a_seq_gap_resends_from_the_expected_seq() -> None:
    """refused{seq_gap, expected_seq 3} returns chunks 3 and on of the open question, in order."""
    core = ClientCore()
    core.on_question(question(1))
    for text in ("a", "b", "c", "d"):
        core.chunk(text)
    core.on_ack(1, 2)
    again = core.on_refused(refused(Reason.SEQ_GAP, expected_seq=3))
    assert again == [SendChunk(1, 3, "c"), SendChunk(1, 4, "d")]
    assert core.on_refused(refused(Reason.RATE_LIMITED)) == []


def test_a_closed_or_full_answer_has_nothing_left_to_send() -> None:
    """answer_saved forgets the question's chunks; answer_too_long drops what was not stored and numbers on after what was."""
    core = ClientCore()
    core.on_question(question(0))
    core.chunk("a")
    core.chunk("b")
    core.on_answer_saved(AnswerSaved(0, "answered", 2, Progress(1, 0, 2)))
    assert not core.pending and 0 in core.closed
    core.on_question(question(1))
    for text in ("x", "y", "z"):
        core.chunk(text)
    core.on_ack(1, 1)
    assert core.on_refused(refused(Reason.ANSWER_TOO_LONG)) == []
    assert not core.pending and core.chunk("w") == SendChunk(1, 2, "w")


def test_an_ack_message_and_the_question_are_fed_the_same_way() -> None:
    """The acked_seq of a question message is an ack like any other."""
    core = ClientCore()
    core.on_question(question(0))
    core.chunk("a")
    ack = ChunkAcked(0, 1)
    core.on_ack(ack.q, ack.seq)
    assert not core.pending
