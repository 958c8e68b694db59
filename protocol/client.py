"""The candidate client's core without I/O: the outbox, cumulative acks, what to resend.

Every chunk the server has not acknowledged stays in the outbox; an ``ack{q, seq}`` drops
all of ``q`` up to ``seq`` (acks are cumulative, SPEC §6.4); after a resume the open
question's unacknowledged chunks are sent again, in order (§6.5), and after a
``refused{seq_gap, expected_seq}`` those from ``expected_seq`` on. A question the server
closed (``answer_saved``), or an answer that is full (``answer_too_long``), has nothing
left to send. The reference client (client/candidate.py) and the load tests feed server
messages in and send what comes out; tests/protocol/test_client.py pins the rules.
"""

from __future__ import annotations

from collections import OrderedDict

from protocol.messages import AnswerSaved, QuestionStarted, Refused, SendChunk
from protocol.reasons import Reason

Payload = str | bytes


class ClientCore:
    def __init__(self) -> None:
        self.outbox: OrderedDict[tuple[int, int], Payload] = OrderedDict()
        self.next_seq: dict[int, int] = {}  # per question: the seq its next chunk gets
        self.acked: dict[int, int] = {}  # per question: the highest seq acknowledged
        self.closed: set[int] = set()  # questions the server has closed
        self.question = -1  # the open question (-1: none yet)

    # --- what the candidate does ------------------------------------------------------------

    def chunk(self, data: Payload) -> SendChunk:
        """A new chunk of the open question's answer, kept until it is acknowledged."""
        q = self.question
        seq = self.next_seq.get(q, 1)
        self.next_seq[q] = seq + 1
        self.outbox[(q, seq)] = data
        return SendChunk(q, seq, data)

    def last_seq(self, q: int) -> int:
        """The seq of the last chunk made for ``q`` (what ``finish`` names)."""
        return self.next_seq.get(q, 1) - 1

    @property
    def pending(self) -> bool:
        """Whether any chunk waits for its ack."""
        return bool(self.outbox)

    # --- what the server says -----------------------------------------------------------------

    def on_ack(self, q: int, seq: int) -> None:
        if seq > self.acked.get(q, 0):
            self.acked[q] = seq
        for key in [k for k in self.outbox if k[0] == q and k[1] <= seq]:
            del self.outbox[key]

    def on_question(self, msg: QuestionStarted) -> None:
        """The open question, and how much of it the server has: never number a new chunk
        at or below what it already stored."""
        self.question = msg.q
        self.on_ack(msg.q, msg.acked_seq)
        if self.next_seq.get(msg.q, 0) <= msg.acked_seq:
            self.next_seq[msg.q] = msg.acked_seq + 1

    def on_answer_saved(self, msg: AnswerSaved) -> None:
        """The question is closed (answered, timed out): nothing more to send for it."""
        self.closed.add(msg.q)
        self.forget(msg.q)

    def on_refused(self, msg: Refused) -> list[SendChunk]:
        """What a refusal means for the outbox; the chunks to send again now."""
        if msg.reason == Reason.ANSWER_TOO_LONG:
            self.forget_unstored()
        elif msg.reason == Reason.SEQ_GAP:
            return self.resend_from(msg.expected_seq)
        return []

    def forget(self, q: int) -> None:
        for key in [k for k in self.outbox if k[0] == q]:
            del self.outbox[key]

    def forget_unstored(self) -> None:
        """The answer is full: what was not stored never will be; number on from what was."""
        q = self.question
        if q < 0:
            return
        stored = self.acked.get(q, 0)
        for key in [k for k in self.outbox if k[0] == q and k[1] > stored]:
            del self.outbox[key]
        self.next_seq[q] = stored + 1

    # --- what to send again ------------------------------------------------------------------

    def resume(self) -> list[SendChunk]:
        """After a (re)join: every unacknowledged chunk of the open question, in order; a
        question closed meanwhile (time limit, exit) has nothing to resend."""
        for stale in [k for k in self.outbox if k[0] != self.question]:
            del self.outbox[stale]
        return [SendChunk(q, seq, data) for (q, seq), data in self.outbox.items()]

    def resend_from(self, expected_seq: int) -> list[SendChunk]:
        """After ``seq_gap``: the open question's chunks from ``expected_seq`` on."""
        return [
            SendChunk(q, seq, data)
            for (q, seq), data in self.outbox.items()
            if q == self.question and seq >= expected_seq
        ]


__all__ = ["ClientCore", "Payload"]
