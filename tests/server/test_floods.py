"""Clients that flood, stop reading or go silent: the hub slows, counts, closes or drops
them as SPEC §5.5 and §13 say, and serves everyone else."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from client.candidate import CandidateClient, ClientClosed
from loadtests.faults import FaultProxy
from protocol import SUBPROTOCOL, SUBPROTOCOL_V2
from protocol.closecodes import CloseCode
from protocol.codec import decode_server, encode
from protocol.messages import (
    AnswerSaved,
    ChunkAcked,
    FinishAnswer,
    Join,
    Joined,
    Ping,
    Pong,
    QuestionStarted,
    Refused,
    SendChunk,
)
from server.interviews import create_interview
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import MASTER_KEYS, PHONE, SECRET, Hub, free_port, now_ms, spec, start_hub


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("floods-redis"), port=free_port()) as redis:
        yield redis


async def new_interview(redis: EmbeddedRedis, questions: int = 2) -> tuple[str, str]:
    store = Store.from_url(redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    settings = Settings(redis_url=redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    try:
        created = await create_interview(store, settings, spec(questions), now_ms())
    finally:
        await store.close()
    return created.interview_id, created.token


async def stored(redis: EmbeddedRedis, iv_id: str) -> list[tuple[int, int]]:
    store = Store.from_url(redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    try:
        return [(c["q"], c["seq"]) for c in await store.chunks(iv_id)]
    finally:
        await store.close()


async def read_until_closed(c: CandidateClient) -> ClientClosed:
    with pytest.raises(ClientClosed) as closed:
        while True:
            await c.next_message(timeout=60)
    return closed.value


@pytest.fixture
def hub(own_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[Hub]:
    running = start_hub(own_redis.url, tmp_path)
    yield running
    running.stop()


@pytest.mark.long  # a flood run: its own command (README, "Long runs")
async def test_a_fast_sender_is_slowed_to_the_budget_and_loses_nothing(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """600 chunks sent at once through a budget of 100 a second (burst 100): all stored once and acked, none refused, and the hub took at least the 5 s the budget allows for the rest."""
    hub = start_hub(own_redis.url, tmp_path, HUB_CHUNKS_PER_S="100", HUB_CHUNK_BURST="100")
    iv_id, token = await new_interview(own_redis)
    try:
        async with CandidateClient(hub.ws, token, PHONE) as c:
            await c.join()
            started = time.monotonic()
            for i in range(600):
                await c.send_text(f"{i},")
            await c.wait_acked(timeout=120)
            elapsed = time.monotonic() - started
            assert c.acked[0] == 600
            assert not [m for m in c.received if isinstance(m, Refused)]
        # a lower bound only: the budget refills at 100 a second, whatever the machine does
        assert elapsed >= 5.0
    finally:
        hub.stop()
    assert await stored(own_redis, iv_id) == [(0, seq) for seq in range(1, 601)]


async def test_chunks_for_closed_questions_past_the_allowance_close_the_socket(
    own_redis: EmbeddedRedis, hub: Hub
) -> None:
    """Chunks for a question that is neither open nor just closed get not_current_question up to HUB_MAX_USELESS_CHUNKS (200); past it each is a bad message, and the 11th closes with 4005."""
    _, token = await new_interview(own_redis, questions=3)
    async with CandidateClient(hub.ws, token, PHONE) as c:
        await c.join()
        for seq in range(1, 221):
            await c.send(SendChunk(2, seq, "x"))  # question 2 is not open
        closed = await read_until_closed(c)
    refusals = [m for m in c.received if isinstance(m, Refused)]
    assert closed.code == CloseCode.BAD_MESSAGES
    assert len(refusals) == 211
    assert {r.reason for r in refusals} == {"not_current_question"}
    assert refusals[-1].fatal and not any(r.fatal for r in refusals[:-1])


async def test_resent_acked_chunks_are_acked_from_memory_until_they_become_a_flood(
    own_redis: EmbeddedRedis, hub: Hub
) -> None:
    """A resend of an acked chunk is acked again (SPEC §6.3); past the allowance resends get rate_limited, count as bad, and close the socket with 4005; nothing is stored twice."""
    iv_id, token = await new_interview(own_redis)
    async with CandidateClient(hub.ws, token, PHONE) as c:
        await c.join()
        await c.send_text("once")
        await c.wait_acked()
        for _ in range(215):
            await c.send(SendChunk(0, 1, "once"))
        closed = await read_until_closed(c)
    acks = [m for m in c.received if isinstance(m, ChunkAcked)]
    refusals = [m for m in c.received if isinstance(m, Refused)]
    assert closed.code == CloseCode.BAD_MESSAGES
    assert len(acks) >= 201 and {a.seq for a in acks} == {1}
    assert [r.reason for r in refusals] == ["rate_limited"] * 11
    assert await stored(own_redis, iv_id) == [(0, 1)]


@pytest.mark.long  # a flood run: its own command (README, "Long runs")
async def test_a_client_whose_replies_pile_up_gets_1008_when_it_reads_again(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """A client that stops reading while its replies pile up (no chunk budget here, so they can) is closed with 1008 at once, not behind its unread replies: when it reads again it finds the replies sent and then the 1008; the hub logs no error. (Keep-alive off on this hub: a client that reads nothing for as long as this one does would otherwise be dropped as a dead path first; that case is the next test.)"""
    hub = start_hub(own_redis.url, tmp_path, HUB_CHUNKS_PER_S="0", HUB_WS_PING_INTERVAL_S="1000")
    _, token = await new_interview(own_redis)
    sock = socket.create_connection(("127.0.0.1", hub.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # little room to hide in
    ws = await websockets.connect(
        hub.ws, sock=sock, subprotocols=[SUBPROTOCOL], compression=None, ping_interval=None
    )
    try:
        await ws.send(encode(Join(token, PHONE)))
        await ws.recv()  # joined
        await ws.recv()  # question 0
        # From here on nothing is read: the library's queue fills, then the socket's.
        # Each chunk with seq 0 gets a ~300-byte refusal (not a bad message), so the
        # replies outgrow every buffer; the hub stops reading, and reads (and drops)
        # frames again only once it has closed: then these sends complete.
        for _ in range(40_000):
            await asyncio.wait_for(ws.send(encode(SendChunk(0, 0, "x"))), 60)
        with contextlib.suppress(websockets.ConnectionClosed):
            async for data in ws:
                assert isinstance(decode_server(data), Refused)
        assert ws.close_code == CloseCode.POLICY_VIOLATION
    finally:
        await ws.close()
        hub.stop()
    assert "Traceback" not in hub.log() and " ERROR " not in hub.log()


@pytest.mark.long  # a flood run: its own command (README, "Long runs")
async def test_a_client_that_reads_nothing_is_dropped_and_recorded(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """A client that reads nothing at all (so answers no ping) is dropped like a dead path, its disconnect is recorded, and the hub logs no error."""
    hub = start_hub(own_redis.url, tmp_path, HUB_WS_PING_INTERVAL_S="1", HUB_WS_PING_TIMEOUT_S="1")
    iv_id, token = await new_interview(own_redis)
    store = Store.from_url(own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    ws = await websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL], ping_interval=None)
    try:
        await ws.send(encode(Join(token, PHONE)))
        await ws.recv()
        await ws.recv()
        ws.transport.pause_reading()  # the page is frozen: nothing is read, nothing answered
        for seq in range(1, 51):
            await ws.send(encode(SendChunk(0, seq, "x")))
        started = time.monotonic()
        while (await store.meta(iv_id)).get("session"):
            assert time.monotonic() - started < 30, "the hub never dropped the socket"
            await asyncio.sleep(0.1)
        ws.transport.resume_reading()
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in ws:
                pass
        assert ws.close_code in (CloseCode.INTERNAL_ERROR, 1006)  # 1011 if it got that far
    finally:
        await ws.close()
        await store.close()
        hub.stop()
    assert await stored(own_redis, iv_id) == [(0, seq) for seq in range(1, 51)]
    assert "Traceback" not in hub.log() and " ERROR " not in hub.log()


@pytest.mark.long  # a keep-alive run: its own command (README, "Long runs")
async def test_a_client_that_keeps_sending_is_not_dropped_while_its_pong_is_late(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """A candidate that keeps sending while its pongs wait (it reads nothing for a while, as when the hub's replies queue behind its upload) is not dropped by the keep-alive: data since the ping shows the path alive; when it reads again every chunk is acked and the socket is still open."""
    hub = start_hub(own_redis.url, tmp_path, HUB_WS_PING_INTERVAL_S="1", HUB_WS_PING_TIMEOUT_S="3")
    iv_id, token = await new_interview(own_redis)
    ws = await websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL], ping_interval=None)
    chunks = 50  # 0.2 s apart: 10 s, over two ping cycles of 1 s + 3 s with no pong at all
    try:
        await ws.send(encode(Join(token, PHONE)))
        await ws.recv()
        await ws.recv()
        ws.transport.pause_reading()  # the hub's pings and acks wait unread: no pong goes out
        for seq in range(1, chunks + 1):
            await ws.send(encode(SendChunk(0, seq, "x")))
            await asyncio.sleep(0.2)
        ws.transport.resume_reading()
        acked = 0
        while acked < chunks:
            reply = decode_server(await asyncio.wait_for(ws.recv(), timeout=60))
            if isinstance(reply, ChunkAcked):
                acked = reply.seq
        await ws.send(encode(FinishAnswer(0, chunks)))
        while not isinstance(reply, AnswerSaved):  # still open and served
            reply = decode_server(await asyncio.wait_for(ws.recv(), timeout=60))
        assert reply.status == "answered"
    finally:
        await ws.close()
        hub.stop()
    assert await stored(own_redis, iv_id) == [(0, seq) for seq in range(1, chunks + 1)]
    assert "keepalive" not in hub.log() and "Traceback" not in hub.log()


async def test_a_silent_socket_is_dropped_by_the_keepalive_and_recorded(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """A candidate whose network path goes dead (no FIN, no RST) is dropped by the hub's ping within interval + timeout, and the disconnect is recorded for HR; the client notices by its own pings."""
    hub = start_hub(own_redis.url, tmp_path, HUB_WS_PING_INTERVAL_S="1", HUB_WS_PING_TIMEOUT_S="1")
    iv_id, token = await new_interview(own_redis)
    store = Store.from_url(own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    try:
        with FaultProxy(hub.port) as path:
            url = f"ws://127.0.0.1:{path.port}/ws/candidate"
            c = CandidateClient(url, token, PHONE, ping_interval_s=1, ping_timeout_s=1)
            await c.join()
            await c.send_text("before")
            await c.wait_acked()
            path.blackhole(True)
            started = time.monotonic()
            while (await store.meta(iv_id)).get("session"):
                # a bound for a hung test only; the default keep-alive (20 s + 20 s, graceful
                # close) of the old hub would not make it
                assert time.monotonic() - started < 30, "the hub never dropped the socket"
                await asyncio.sleep(0.1)
            events = [e["kind"] for e in await store.events(iv_id)]
            assert events.count("disconnected") == 1
            with contextlib.suppress(ClientClosed, TimeoutError):
                while True:
                    await c.next_message(timeout=30)
            assert c.close_code is not None  # the client's own pings found the path dead
            path.blackhole(False)
        again = CandidateClient(hub.ws, token, PHONE)
        assert (await again.join()).mode == "resume"
        await again.close()
    finally:
        await store.close()
        hub.stop()


async def test_ping_gets_pong_on_v2_and_does_not_count_as_activity(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """On interview-hub.v2 a ping is answered with pong at once; pings alone do not keep an idle socket from its idle timeout (4010)."""
    hub = start_hub(own_redis.url, tmp_path, HUB_IDLE_TIMEOUT_S="2")
    _, token = await new_interview(own_redis)
    try:
        async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL_V2]) as ws:
            await ws.send(encode(Join(token, PHONE)))
            await ws.recv()  # joined
            await ws.recv()  # question 0
            await ws.send(encode(Ping()))
            assert decode_server(await ws.recv(), media=True) == Pong()
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await ws.send(encode(Ping()))
                    reply = decode_server(await asyncio.wait_for(ws.recv(), 30), media=True)
                    assert isinstance(reply, Pong | Refused)
                    await asyncio.sleep(0.5)
            assert ws.close_code == CloseCode.IDLE
    finally:
        hub.stop()


async def test_ping_is_unknown_on_v1(own_redis: EmbeddedRedis, hub: Hub) -> None:
    """v1 is closed: a ping there is an unknown type (a bad message), as SPEC §1.4 says."""
    _, token = await new_interview(own_redis)
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(encode(Join(token, PHONE)))
        await ws.recv()
        await ws.recv()
        await ws.send(encode(Ping()))
        refusal = decode_server(await ws.recv())
        assert isinstance(refusal, Refused) and refusal.reason == "unknown_type"


async def test_a_connection_reset_while_its_frames_wait_leaves_no_unretrieved_task_error(
    own_redis: EmbeddedRedis, hub: Hub
) -> None:
    """BUG (found by loadtests.abuse_bench): a client reset (RST) while the hub still holds thousands of its frames: the hub's sender dies with ClientDisconnected, the replies pile up, and close_now() replaces the dead sender without retrieving its exception, so asyncio logs "Task exception was never retrieved" with a traceback."""
    iv_id, token = await new_interview(own_redis)
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(encode(Join(token, PHONE)))
        assert isinstance(decode_server(await ws.recv()), Joined)
        assert isinstance(decode_server(await ws.recv()), QuestionStarted)
        await ws.send(encode(FinishAnswer(0, 0)))
        assert isinstance(decode_server(await ws.recv()), AnswerSaved)
        assert decode_server(await ws.recv()) == QuestionStarted(1, "Question 2", 2, 0, 0, 0)
        # chunks for the question just closed: each is answered, none closes the socket;
        # written in one go, so the hub has them all queued when the reset comes
        frame = encode(SendChunk(0, 1, "x"))
        for _ in range(3000):
            ws.protocol.send_binary(frame)
        ws.transport.write(b"".join(ws.protocol.data_to_send()))
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()
    store = Store.from_url(own_redis.url)
    try:
        deadline = time.monotonic() + 60
        while (await store.meta(iv_id)).get("session"):
            assert time.monotonic() < deadline, "the hub never recorded the disconnect"
            await asyncio.sleep(0.1)
    finally:
        await store.close()
    log = hub.log()
    assert "never retrieved" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
