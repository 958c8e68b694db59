"""Per-address limits and the idle timeout, on a hub and Redis of their own (small limits)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from client.candidate import CandidateClient, JoinRefused
from protocol import MONITOR_SUBPROTOCOL, SUBPROTOCOL
from protocol.messages import Refused, SendChunk
from server.accounts import Accounts
from server.interviews import create_interview
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis
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


@pytest.fixture
def capped_hub(own_redis: EmbeddedRedis, own_store: Store, tmp_path: Path) -> Iterator[Hub]:
    # the answer cap without the 1 s idle timeout: a loaded machine's pause is not an idle close
    hub = start_hub(own_redis.url, tmp_path, **{**LIMITS, "HUB_IDLE_TIMEOUT_S": "1800"})
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


async def test_idle_joined_socket_is_closed_4010_and_its_disconnect_recorded(
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
    capped_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """With a 100-byte cap, the chunk that would pass it gets answer_too_long; what fit is stored and acked, and the next question starts from zero."""
    token = await new_interview(own_store, own_redis)
    async with CandidateClient(capped_hub.ws, token, PHONE) as c:
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
    capped_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """Once a chunk did not fit, every later chunk of that answer gets answer_too_long (not seq_gap, which would ask for a resend)."""
    token = await new_interview(own_store, own_redis)
    async with CandidateClient(capped_hub.ws, token, PHONE) as c:
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


# --- refusals during a lock-out: anyone with the link can make any number of them -----------

LOCKED_OUT = ("too_many_attempts", "address_locked_out")
INTERVAL_S = 5.0  # the hub's HUB_REFUSAL_LOG_INTERVAL_S in these tests


async def created_interview(store: Store, own_redis: EmbeddedRedis) -> tuple[str, str]:
    settings = Settings(redis_url=own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    made = await create_interview(store, settings, spec(2), now_ms())
    return made.interview_id, made.token


async def refuse(hub: Hub, token: str, addresses: list[str], times: int) -> list[str]:
    """``times`` identity checks with a wrong identity, from these addresses in turn (as a
    trusted proxy reports them), 25 at a time; the reasons they were refused with."""
    reasons: list[str] = []
    async with httpx.AsyncClient(base_url=hub.http, timeout=60) as http:
        for start in range(0, times, 25):
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/api/candidate/centre",
                        json={"token": token, "identity": "13900000000"},
                        headers={"X-Forwarded-For": addresses[i % len(addresses)]},
                    )
                    for i in range(start, min(start + 25, times))
                )
            )
            reasons += [a.json()["reason"] for a in answers]
    return reasons


async def accounted(
    entries_of: Callable[[], Awaitable[list[dict[str, Any]]]], refused: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Wait until every lock-out refusal is in the log, one by one or in a summary's count
    (summaries come once an interval is over); those entries and those summaries."""
    for _ in range(1200):
        entries = await entries_of()
        single = [
            e for e in entries if e["outcome"] in LOCKED_OUT and e["action"] != "identity_refusals"
        ]
        sums = [e for e in entries if e["action"] == "identity_refusals"]
        if len(single) + sum(e["detail"]["refused"] for e in sums) == refused:
            return single, sums
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(single)} entries and summaries of {sums} for {refused} refusals")


def bounded(entries: int, started: float) -> bool:
    """At most the first refusal of each interval and a summary per reason of each."""
    return entries <= 3 * ((time.monotonic() - started) // INTERVAL_S + 2)


@pytest.fixture
def lockout_hub(own_redis: EmbeddedRedis, own_store: Store, tmp_path: Path) -> Iterator[Hub]:
    hub = start_hub(
        own_redis.url,
        tmp_path,
        **LIMITS,
        HUB_TRUSTED_PROXIES="127.0.0.1",  # the test names each check's address
        HUB_REFUSAL_LOG_INTERVAL_S=str(INTERVAL_S),
    )
    yield hub
    hub.stop()


async def test_refusals_from_a_locked_out_address_add_a_handful_of_entries(
    lockout_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """500 checks from an address locked out add a handful of entries to the interview's and
    the organisation's logs, which still account for every refusal (summed up per interval);
    the candidate's own join from elsewhere works right after."""
    iv_id, token = await created_interview(own_store, own_redis)
    attacker = "203.0.113.9"
    async with httpx.AsyncClient(base_url=lockout_hub.http) as http:
        for guess in ("ffffffffffffffff.nope", "0000000000000000.nope", "1111111111111111.no"):
            await http.post(
                "/api/candidate/centre",
                json={"token": guess, "identity": PHONE},
                headers={"X-Forwarded-For": attacker},
            )
    started = time.monotonic()
    reasons = await refuse(lockout_hub, token, [attacker], 500)
    assert set(reasons) == {"address_locked_out"}
    single, sums = await accounted(lambda: own_store.oplog(iv_id), 500)
    assert bounded(len(single) + len(sums), started), (len(single), len(sums))
    assert single[0]["ip"] == attacker and sums and sums[0]["detail"]["addresses"] == [attacker]
    org_single, org_sums = await accounted(lambda: own_store.org_log("default", count=10_000), 500)
    assert bounded(len(org_single) + len(org_sums), started)
    async with CandidateClient(lockout_hub.ws, token, PHONE) as candidate:
        joined = await candidate.join()
        assert joined.interview_id == iv_id
    assert [e["outcome"] for e in await own_store.oplog(iv_id) if e["action"] == "join"] == ["ok"]


async def test_refusals_during_an_interview_lock_out_add_a_handful_of_entries(
    lockout_hub: Hub, own_store: Store, own_redis: EmbeddedRedis
) -> None:
    """500 checks from 200 addresses against a locked interview (and, as each address fails
    its three, from locked-out addresses) add a handful of entries, which account for every
    refusal and name at most ten of the addresses."""
    iv_id, token = await created_interview(own_store, own_redis)
    botnet = [f"198.51.100.{i}" for i in range(1, 201)]
    await refuse(lockout_hub, token, botnet[:5], 5)  # five wrong identities lock it
    started = time.monotonic()
    reasons = await refuse(lockout_hub, token, botnet, 500)
    assert set(reasons) == set(LOCKED_OUT)
    single, sums = await accounted(lambda: own_store.oplog(iv_id), 500)
    assert bounded(len(single) + len(sums), started), (len(single), len(sums))
    assert {e["outcome"] for e in sums} == set(LOCKED_OUT)
    assert all(len(e["detail"]["addresses"]) <= 10 for e in sums)
    assert [e["outcome"] for e in await own_store.oplog(iv_id)].count("identity_mismatch") == 5
