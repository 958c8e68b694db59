"""Per-address limits and the idle timeout, on a hub and Redis of their own (small limits)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from client.candidate import CandidateClient, JoinRefused
from protocol import MONITOR_SUBPROTOCOL, SUBPROTOCOL
from protocol.messages import Refused, SendChunk
from server.accounts import Accounts
from server.embedded import EmbeddedRedis
from server.interviews import create_interview
from server.settings import Settings
from server.store import Store
from tests.conftest import MASTER_KEYS, PHONE, SECRET, Hub, free_port, now_ms, spec, start_hub

LIMITS = {
    "HUB_MAX_CONNECTIONS_PER_IP": "3",
    "HUB_MAX_IDENTITY_FAILURES_PER_IP": "3",
    "HUB_MAX_LOGIN_FAILURES_PER_IP": "3",
    "HUB_IDLE_TIMEOUT_S": "1",
    "HUB_MAX_ANSWER_BYTES": "100",
}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("limits-redis"), port=free_port()) as redis:
        yield redis


@pytest.fixture
async def own_store(own_redis: EmbeddedRedis) -> AsyncIterator[Store]:
    store = Store.from_url(own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    await store.redis.flushall()  # each test starts with no counters and no interviews
    yield store
    await store.close()


@pytest.fixture
def limited_hub(own_redis: EmbeddedRedis, own_store: Store, tmp_path: Path) -> Iterator[Hub]:
    hub = start_hub(own_redis.url, tmp_path, **LIMITS)  # after the flush: a clean start
    yield hub
    hub.stop()


async def new_interview(store: Store, own_redis: EmbeddedRedis) -> str:
    settings = Settings(redis_url=own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    return (await create_interview(store, settings, spec(2), now_ms())).token


async def test_sockets_per_address_are_capped_across_both_kinds(
    limited_hub: Hub, own_store
) -> None:
    """With a cap of 3, the 4th socket from one address gets HTTP 403 too_many_connections (candidate or monitor); closing one frees a slot."""
    monitor_url = limited_hub.ws.replace("/ws/candidate", "/ws/monitor")
    first = await websockets.connect(limited_hub.ws, subprotocols=[SUBPROTOCOL])
    second = await websockets.connect(monitor_url, subprotocols=[MONITOR_SUBPROTOCOL])
    third = await websockets.connect(limited_hub.ws, subprotocols=[SUBPROTOCOL])
    for url, proto in ((limited_hub.ws, SUBPROTOCOL), (monitor_url, MONITOR_SUBPROTOCOL)):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(url, subprotocols=[proto])
        assert refused.value.response.status_code == 403
        assert b"too_many_connections" in refused.value.response.body
    await first.close()
    await asyncio.sleep(0.2)  # the hub notices the close
    fourth = await websockets.connect(limited_hub.ws, subprotocols=[SUBPROTOCOL])
    for ws in (second, third, fourth):
        await ws.close()
    # counted, not a line per refusal (tests/server/test_log_floods.py)
    assert (
        "handshakes refused (since the last note): too_many_connections 1; the last: too_many_connections 127.0.0.1"
        in limited_hub.log()
    )


async def test_identity_failures_per_address_lock_out_every_interview(
    limited_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """Three failed checks from one address (a wrong identity, guessed tokens) lock that address out, even for a right identity on another interview, with its own reason (address_locked_out, not the interview's too_many_attempts)."""
    one = await new_interview(own_store, own_redis)
    other = await new_interview(own_store, own_redis)
    with pytest.raises(JoinRefused) as wrong:
        await CandidateClient(limited_hub.ws, one, "13900000000").join()
    assert wrong.value.reason == "identity_mismatch"
    async with httpx.AsyncClient(base_url=limited_hub.http) as http:
        for guess in ("ffffffffffffffff.nope", "0000000000000000.nope"):
            r = await http.post("/api/candidate/centre", json={"token": guess, "identity": PHONE})
            assert r.json()["reason"] == "link_invalid"
        r = await http.post("/api/candidate/centre", json={"token": other, "identity": PHONE})
    assert r.status_code == 429 and r.json()["reason"] == "address_locked_out"
    with pytest.raises(JoinRefused) as locked:
        await CandidateClient(limited_hub.ws, other, PHONE).join()
    assert locked.value.reason == "address_locked_out"


async def test_login_failures_per_address_lock_out_every_user(
    limited_hub: Hub, own_store: Store
) -> None:
    """Three failed logins from one address, for different users, refuse the next login even with the right password (address_locked_out)."""
    await Accounts(own_store, 3600).add_user(
        "alice", "alice-pw", "acme", ["admin"], now_ms(), check_policy=False
    )
    async with httpx.AsyncClient(base_url=limited_hub.http) as http:
        for user in ("bob", "carol", "alice"):
            r = await http.post("/api/hr/login", json={"username": user, "password": "guess"})
            assert r.json()["reason"] == "login_failed"
        r = await http.post("/api/hr/login", json={"username": "alice", "password": "alice-pw"})
    assert r.status_code == 429 and r.json()["reason"] == "address_locked_out"


async def test_idle_joined_socket_is_closed_4010_and_the_grace_starts(
    limited_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """A joined socket silent for the idle timeout (1 s here) gets refused{idle_timeout} and close 4010; one that keeps sending stays open."""
    idle_token = await new_interview(own_store, own_redis)
    busy_token = await new_interview(own_store, own_redis)
    idle = CandidateClient(limited_hub.ws, idle_token, PHONE)
    busy = CandidateClient(limited_hub.ws, busy_token, PHONE)
    await idle.join()
    await busy.join()
    for _ in range(12):  # about 2.4 s of typing, a chunk every 0.2 s
        await busy.send_text("x")
        await asyncio.sleep(0.2)
    await busy.wait_acked()
    for _ in range(50):
        if idle.close_code is not None:
            break
        await asyncio.sleep(0.1)
    assert idle.close_code == 4010
    assert any(getattr(m, "reason", "") == "idle_timeout" for m in idle.received)
    assert busy.close_code is None
    meta = await own_store.meta(idle_token.split(".")[0])
    assert meta["state"] == "in_progress" and int(meta["disconnected_ms"]) > 0
    await busy.close()


async def test_an_answer_is_capped_in_bytes(
    limited_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """With a 100-byte cap, the chunk that would pass it gets answer_too_long; what fit is stored and acked, and the next question starts from zero."""
    token = await new_interview(own_store, own_redis)
    async with CandidateClient(limited_hub.ws, token, PHONE) as c:
        await c.join()
        await c.send_text("a" * 40)
        await c.send_text("中" * 20)  # 60 bytes of UTF-8: 100 in all, still allowed
        await c.wait_acked()
        await c.send_text("b")
        refusal = await c.expect(Refused)
        assert refusal.reason == "answer_too_long"
        assert c.acked[0] == 2 and not c.outbox  # what did not fit is dropped, not resent
        await c.finish()
        await c.send_text("c" * 100)
        await c.wait_acked()
    chunks = await own_store.chunks(token.split(".")[0])
    assert [(x["q"], x["seq"]) for x in chunks] == [(0, 1), (0, 2), (1, 1)]


async def test_every_chunk_past_a_full_answer_is_too_long_never_a_gap(
    limited_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """Once a chunk did not fit, every later chunk of that answer gets answer_too_long (not seq_gap, which would ask for a resend)."""
    token = await new_interview(own_store, own_redis)
    async with CandidateClient(limited_hub.ws, token, PHONE) as c:
        await c.join()
        await c.send_text("a" * 100)
        await c.wait_acked()
        reasons = []
        for seq in range(2, 7):  # a client that takes no notice keeps numbering on
            await c.send(SendChunk(0, seq, "b"))
            reasons.append((await c.expect(Refused)).reason)
        assert reasons == ["answer_too_long"] * 5
        await c.send(SendChunk(0, 9, "late"))  # far past the end: still too long, not a gap
        assert (await c.expect(Refused)).reason == "answer_too_long"
        assert c.acked[0] == 1
    chunks = await own_store.chunks(token.split(".")[0])
    assert [(x["q"], x["seq"]) for x in chunks] == [(0, 1)]
