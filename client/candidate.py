"""The Python candidate client: for scripts, tests, load tests and the terminal.

It keeps every chunk that the server has not acknowledged in an outbox and, after a
reconnect (on this or any other machine that has the outbox), resends exactly those the
server does not have: the server's ``QuestionStarted.acked_seq`` says where it stands.

    async with CandidateClient(url, token, identity) as c:
        await c.join()
        await c.send_text("my answer ")
        await c.finish()            # waits until every chunk is acknowledged
        preview = await c.request_exit()
        exited = await c.confirm_exit()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Any, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin, Subprotocol

from protocol import SUBPROTOCOL
from protocol.client import ClientCore, Payload
from protocol.codec import decode_server, encode
from protocol.messages import (
    AnswerSaved,
    CancelExit,
    ChunkAcked,
    Completed,
    ConfirmExit,
    Ended,
    Exited,
    ExitPreviewed,
    FinishAnswer,
    Join,
    Joined,
    QuestionStarted,
    Refused,
    RequestExit,
    ServerMessage,
    TakenOver,
)
from protocol.reasons import Reason

M = TypeVar("M")  # a message class


class ClientClosed(Exception):
    """The server closed the socket; ``code`` and the last message say why."""

    def __init__(self, code: int | None, last: ServerMessage | None) -> None:
        super().__init__(f"closed with {code}: {last}")
        self.code = code
        self.last = last


class JoinRefused(Exception):
    def __init__(self, refusal: Refused) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.reason = refusal.reason


class CandidateClient:
    def __init__(
        self,
        url: str,
        token: str,
        identity: str,
        device: str = "python-client",
        *,
        origin: str | None = None,
        device_id: str = "",
        ping_interval_s: float | None = 5.0,
        ping_timeout_s: float | None = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.identity = identity
        self.device = device
        self.device_id = device_id  # the same on every socket of one device (SPEC §2.1)
        self.origin = origin
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.ws: ClientConnection | None = None
        self.joined: Joined | None = None
        self.question: QuestionStarted | None = None
        self.core = ClientCore()  # the outbox, acks and resends (protocol/client.py)
        self.received: list[ServerMessage] = []  # every message, in order, for inspection
        self.close_code: int | None = None
        self._inbox: asyncio.Queue[ServerMessage | None] = asyncio.Queue()
        self._acked_event = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._resend_task: asyncio.Task[None] | None = None

    # the core's state, readable and settable as before (tests copy one client's outbox to
    # another, as a second device with the same storage would have it)
    @property
    def outbox(self) -> OrderedDict[tuple[int, int], Payload]:
        return self.core.outbox

    @outbox.setter
    def outbox(self, value: OrderedDict[tuple[int, int], Payload]) -> None:
        self.core.outbox = value

    @property
    def next_seq(self) -> dict[int, int]:
        return self.core.next_seq

    @next_seq.setter
    def next_seq(self, value: dict[int, int]) -> None:
        self.core.next_seq = value

    @property
    def acked(self) -> dict[int, int]:
        return self.core.acked

    @acked.setter
    def acked(self, value: dict[int, int]) -> None:
        self.core.acked = value

    @property
    def closed(self) -> set[int]:
        """Questions the server has closed."""
        return self.core.closed

    async def __aenter__(self) -> CandidateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- connection -------------------------------------------------------------------------

    async def connect(self, open_timeout: float = 10.0) -> None:
        self.close_code = None
        self._inbox = asyncio.Queue()
        self.ws = await websockets.connect(
            self.url,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            origin=Origin(self.origin) if self.origin is not None else None,
            compression=None,
            max_size=2**20,
            open_timeout=open_timeout,
            # a dead network path (no FIN, no RST) shows as silence: the library pings, and
            # a missing pong closes the socket (1011) so the caller can reconnect and resume
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for data in self.ws:
                if not isinstance(data, bytes):
                    continue
                msg = decode_server(data)
                self.received.append(msg)
                if type(msg) is ChunkAcked:
                    self._on_ack(msg)
                    continue
                if type(msg) is QuestionStarted:
                    self.question = msg
                    self._on_ack(ChunkAcked(msg.q, msg.acked_seq))
                    self.core.on_question(msg)
                if type(msg) is AnswerSaved:
                    self.core.on_answer_saved(msg)
                    self._acked_event.set()
                if type(msg) is Refused and msg.reason == Reason.SEQ_GAP:
                    # the server lacks chunks from expected_seq on: send them again, in order
                    self._resend_task = asyncio.create_task(self._resend_from(msg.expected_seq))
                elif type(msg) is Refused:
                    self.core.on_refused(msg)  # answer_too_long: what was not stored is gone
                    self._acked_event.set()
                await self._inbox.put(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self._acked_event.set()
            await self._inbox.put(None)

    def _on_ack(self, ack: ChunkAcked) -> None:
        self.core.on_ack(ack.q, ack.seq)
        self._acked_event.set()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def drop(self) -> None:
        """Lose the connection abruptly, as a network failure would (no close handshake)."""
        if self.ws is not None:
            self.ws.transport.abort()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def next_message(self, timeout: float = 10.0) -> ServerMessage:
        """The next message other than an ack; ClientClosed when the socket closed."""
        msg = await asyncio.wait_for(self._inbox.get(), timeout)
        if msg is None:
            await self._inbox.put(None)  # stay closed for later callers
            last = self.received[-1] if self.received else None
            raise ClientClosed(self.close_code, last)
        return msg

    async def expect(self, kind: type[M], timeout: float = 10.0) -> M:
        msg = await self.next_message(timeout)
        if not isinstance(msg, kind):
            raise AssertionError(f"expected {kind.__name__}, got {msg!r}")
        return msg

    async def send(self, msg: Any) -> None:
        assert self.ws is not None, "connect first"
        await self.ws.send(encode(msg))

    # --- the flow ---------------------------------------------------------------------------

    async def join(self, timeout: float = 10.0) -> Joined:
        """Connect, verify, and resend what the server does not have yet.

        `timeout` bounds the wait for each of the server's first two messages.
        """
        await self.connect(open_timeout=timeout)
        await self.send(Join(self.token, self.identity, self.device, self.device_id))
        first = await self.next_message(timeout)
        if isinstance(first, Refused):
            if self._reader is not None:  # the server closes next: keep its close code
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(self._reader), 5)
            raise JoinRefused(first)
        if not isinstance(first, Joined):
            raise AssertionError(f"expected joined, got {first!r}")
        self.joined = first
        nxt = await self.next_message(timeout)
        while isinstance(nxt, AnswerSaved):  # a question closed by its time limit while away
            nxt = await self.next_message(timeout)
        if isinstance(nxt, QuestionStarted):
            await self.resend()  # the reader gave the core the question and its acked seq
        elif isinstance(nxt, Completed):
            pass
        else:
            raise AssertionError(f"expected question, got {nxt!r}")
        return first

    async def _resend_from(self, expected_seq: int) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            for chunk in self.core.resend_from(expected_seq):
                await self.send(chunk)

    async def resend(self) -> None:
        """Send every unacknowledged chunk of the open question again, in order."""
        for chunk in self.core.resume():
            await self.send(chunk)

    async def send_text(self, data: str | bytes) -> int:
        """Stream one chunk of the open question's answer; returns its seq."""
        assert self.question is not None, "join first"
        chunk = self.core.chunk(data)
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.send(chunk)  # kept in the outbox either way
        return chunk.seq

    async def wait_acked(self, timeout: float = 10.0) -> None:
        """Until the server has acknowledged every chunk sent (or the socket closed)."""

        async def wait() -> None:
            while self.outbox and self.close_code is None:
                if self.question is not None and self.question.q in self.closed:
                    self.core.forget(self.question.q)
                    break
                self._acked_event.clear()
                await self._acked_event.wait()

        await asyncio.wait_for(wait(), timeout)

    async def finish(self) -> QuestionStarted | Completed:
        """Close the open question; returns the next question or the completion."""
        assert self.question is not None
        q = self.question.q
        await self.wait_acked()  # returns early if the question's time ran out meanwhile
        if q not in self.closed:
            await self.send(FinishAnswer(q, self.core.last_seq(q)))
        while True:
            msg = await self.next_message()
            if isinstance(msg, QuestionStarted | Completed):
                return msg
            if isinstance(msg, AnswerSaved) or (
                isinstance(msg, Refused) and msg.reason in ("time_up", "not_current_question")
            ):
                continue  # the close of q (by us or by its time limit), or chunks too late
            raise AssertionError(f"expected the next question or completed, got {msg!r}")

    async def request_exit(self) -> ExitPreviewed:
        await self.send(RequestExit())
        return await self.expect(ExitPreviewed)

    async def cancel_exit(self) -> None:
        await self.send(CancelExit())

    async def confirm_exit(self) -> Exited:
        await self.send(ConfirmExit())
        msg = await self.next_message()
        while isinstance(msg, AnswerSaved | Refused) and not isinstance(msg, Exited):
            if isinstance(msg, Refused):
                raise AssertionError(f"exit refused: {msg.reason}")
            msg = await self.next_message()
        if not isinstance(msg, Exited):
            raise AssertionError(f"expected exited, got {msg!r}")
        return msg


__all__ = ["CandidateClient", "ClientClosed", "Ended", "JoinRefused", "TakenOver"]
