"""Faults between the hub and Redis, and hubs paused: the hub keeps saving, says what
happened, and never tells a candidate another device took over when none did."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from client.candidate import CandidateClient, ClientClosed
from loadtests.faults import FaultProxy
from protocol.closecodes import CloseCode
from protocol.messages import Refused, TakenOver
from server.interviews import create_interview
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import MASTER_KEYS, PHONE, SECRET, Hub, free_port, now_ms, spec, start_hub

# Redis fault runs: their own command (README, "Long runs")
pytestmark = pytest.mark.long

LEASE_S = "1.5"  # short leases, so that an outage "longer than the lease" is a short test


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("faults-redis"), port=free_port()) as redis:
        yield redis


@pytest.fixture
async def own_store(own_redis: EmbeddedRedis) -> AsyncIterator[Store]:
    store = Store.from_url(own_redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    yield store
    await store.close()


@pytest.fixture
def proxy(own_redis: EmbeddedRedis) -> Iterator[FaultProxy]:
    with FaultProxy(own_redis.port) as running:
        yield running


async def new_interview(store: Store, redis: EmbeddedRedis, **policy: object) -> tuple[str, str]:
    settings = Settings(redis_url=redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    created = await create_interview(store, settings, spec(2, **policy), now_ms())
    return created.interview_id, created.token


async def wait_until(check: object, what: str, timeout: float = 60.0) -> None:
    """Poll ``check()`` (sync or async) until it is true; fail with ``what`` after ``timeout``
    (a bound for a hung test only: nothing here depends on how fast the hub is)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)


def health(hub: Hub, path: str = "/healthz") -> httpx.Response | None:
    try:
        return httpx.get(hub.http + path, timeout=5)
    except httpx.HTTPError:
        return None


def ready(hub: Hub) -> bool:
    answer = health(hub, "/readyz")
    return answer is not None and answer.status_code == 200


async def stored_seqs(store: Store, iv_id: str) -> list[int]:
    return [c["seq"] for c in await store.chunks(iv_id)]


async def test_a_reset_redis_link_does_not_stop_the_hub(
    own_redis: EmbeddedRedis, own_store: Store, proxy: FaultProxy, tmp_path: Path
) -> None:
    """After every hub↔Redis connection is reset (RST), chunks are still acked and stored once, health stays true, and the control channel still delivers a takeover."""
    iv_id, token = await new_interview(own_store, own_redis)
    hub = start_hub(proxy.url, tmp_path)
    try:
        first = CandidateClient(hub.ws, token, PHONE, device="first")
        await first.join()
        for i in range(1, 11):
            await first.send_text(f"{i},")
        await first.wait_acked()
        assert proxy.reset() > 0
        for i in range(11, 31):
            await first.send_text(f"{i},")
        await first.wait_acked(timeout=60)
        assert first.acked[0] == 30 and first.close_code is None
        answer = health(hub)
        assert answer is not None and answer.status_code == 200, answer and answer.text
        # the takeover notice reaches the idle first socket through the control channel
        second = CandidateClient(hub.ws, token, PHONE, device="second")
        await second.join()
        notice = await first.expect(TakenOver, timeout=30)
        assert notice.device == "second"  # the control message, not a failed write
        await second.close()
    finally:
        hub.stop()
    assert await stored_seqs(own_store, iv_id) == list(range(1, 31))
    assert "Traceback" not in hub.log()


async def test_a_lone_hub_keeps_its_sockets_through_an_outage_longer_than_its_lease(
    own_redis: EmbeddedRedis, own_store: Store, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Redis away for longer than the hub's lease: the hub does not release its own live sockets; afterwards the candidate goes on with no close at all (never 4002)."""
    iv_id, token = await new_interview(own_store, own_redis)
    hub = start_hub(proxy.url, tmp_path, HUB_HUB_LEASE_S=LEASE_S)
    try:
        c = CandidateClient(hub.ws, token, PHONE)
        await c.join()
        await c.send_text("before,")
        await c.wait_acked()
        hubs = await own_store.redis.smembers("hubs")
        proxy.refuse(True)
        proxy.reset()

        async def leases_lapsed() -> bool:
            return not any([await own_store.redis.exists(f"hub:{h}:alive") for h in hubs])

        await wait_until(leases_lapsed, "the hub's lease lapsed in Redis")
        await wait_until(lambda: not ready(hub), "readiness says the lease is lapsed")
        proxy.refuse(False)
        await wait_until(lambda: ready(hub), "the hub renewed its lease")
        await c.send_text("after,")
        await c.wait_acked(timeout=60)
        assert c.close_code is None
        assert not any(isinstance(m, TakenOver) for m in c.received)
        meta = await own_store.meta(iv_id)
        assert meta["state"] == "in_progress" and meta["session"]  # still held by the socket
        await c.close()
    finally:
        hub.stop()
    assert await stored_seqs(own_store, iv_id) == [1, 2]


async def test_a_paused_hub_tells_its_candidates_to_resume_not_that_they_were_taken_over(
    own_redis: EmbeddedRedis, own_store: Store, tmp_path: Path
) -> None:
    """A hub paused past its lease has its sockets released by another hub; on waking, its candidate gets connection_interrupted + 1011 (retry), not taken_over + 4002, and resumes with nothing lost."""
    iv_id, token = await new_interview(own_store, own_redis)
    paused = start_hub(own_redis.url, tmp_path, HUB_HUB_LEASE_S=LEASE_S)
    other = start_hub(own_redis.url, tmp_path, HUB_HUB_LEASE_S=LEASE_S)
    try:
        c = CandidateClient(paused.ws, token, PHONE)
        await c.join()
        for i in range(1, 6):
            await c.send_text(f"{i},")
        await c.wait_acked()
        os.kill(paused.process.pid, signal.SIGSTOP)
        try:

            async def released() -> bool:
                return (await own_store.meta(iv_id)).get("session") == ""

            await wait_until(released, "the other hub released the paused hub's socket")
        finally:
            os.kill(paused.process.pid, signal.SIGCONT)
        await c.send_text("6,")
        with pytest.raises(ClientClosed) as closed:
            while True:
                await c.next_message(timeout=60)
        assert closed.value.code == CloseCode.INTERNAL_ERROR
        last = closed.value.last
        assert isinstance(last, Refused) and last.reason == "connection_interrupted"
        assert not any(isinstance(m, TakenOver) for m in c.received)
        joined = await c.join()  # the client resumes, as for any 1011
        assert joined.mode == "resume"
        await c.send_text("7,")
        await c.wait_acked(timeout=30)
        await c.close()
    finally:
        paused.stop()
        other.stop()
    assert await stored_seqs(own_store, iv_id) == list(range(1, 8))


async def test_a_disconnect_during_a_redis_outage_is_recorded_when_redis_is_back(
    own_redis: EmbeddedRedis, own_store: Store, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A candidate who drops while Redis is unreachable is recorded as disconnected once Redis is back, so the interview is not held for ever by a session no socket has."""
    iv_id, token = await new_interview(own_store, own_redis)
    hub = start_hub(proxy.url, tmp_path)
    try:
        c = CandidateClient(hub.ws, token, PHONE)
        await c.join()
        await c.send_text("1,")
        await c.wait_acked()
        proxy.refuse(True)
        proxy.reset()
        await c.drop()
        await wait_until(
            lambda: "not recorded yet" in hub.log(), "the hub noticed it could not record it"
        )
        assert (await own_store.meta(iv_id))["session"]  # still held: nothing recorded yet
        proxy.refuse(False)

        async def recorded() -> bool:
            meta = await own_store.meta(iv_id)
            return meta["session"] == "" and int(meta["disconnected_ms"]) > 0

        await wait_until(recorded, "the disconnect was recorded after the outage")
        events = await own_store.events(iv_id)
        assert [e["kind"] for e in events].count("disconnected") == 1
    finally:
        hub.stop()


async def test_redis_faults_are_one_line_each_in_the_hub_log(
    own_redis: EmbeddedRedis, own_store: Store, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A few seconds of Redis outage with a candidate and an idle hub write a handful of one-line warnings, no tracebacks."""
    _, token = await new_interview(own_store, own_redis)
    hub = start_hub(proxy.url, tmp_path)
    try:
        c = CandidateClient(hub.ws, token, PHONE)
        await c.join()
        proxy.refuse(True)
        proxy.reset()
        await wait_until(lambda: not ready(hub), "the hub noticed the outage")
        await asyncio.sleep(3)  # several sweeper, lease and notifier rounds while it lasts
        proxy.refuse(False)
        await wait_until(lambda: ready(hub), "the hub is ready again")
        await c.close()
    finally:
        hub.stop()
    text = hub.log()
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(lines) < 20, "\n".join(lines)


async def test_after_a_redis_restart_no_stale_connection_fails_a_request(tmp_path: Path) -> None:
    """Right after Redis restarts, every pooled connection left from before is replaced on first use: 20 candidates carry on, 20 HTTP requests and 20 new joins all succeed, no socket is closed with 1011."""
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port())
    redis.start()
    store = Store.from_url(redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    hub = start_hub(redis.url, tmp_path)
    try:
        tokens = [(await new_interview(store, redis))[1] for _ in range(40)]
        first = [CandidateClient(hub.ws, t, PHONE) for t in tokens[:20]]
        for c in first:
            await c.join()
            await c.send_text("before,")
        for c in first:
            await c.wait_acked()
        redis.stop()  # a clean restart: the AOF keeps everything
        redis.start()
        async with httpx.AsyncClient(base_url=hub.http) as http:
            answers = await asyncio.gather(
                *(
                    http.post("/api/candidate/answer", json={"token": t, "identity": PHONE})
                    for t in tokens[:20]
                )
            )
        assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
        later = [CandidateClient(hub.ws, t, PHONE) for t in tokens[20:]]
        await asyncio.gather(*(c.join() for c in later))
        for c in first + later:
            await c.send_text("after,")
        for c in first + later:
            await c.wait_acked(timeout=30)
            assert c.close_code is None
            await c.close()
    finally:
        hub.stop()
        await store.close()
        redis.stop()


async def test_a_redis_error_during_the_reclaim_after_a_lapsed_lease_does_not_lose_the_reclaim(
    own_redis: EmbeddedRedis, own_store: Store, proxy: FaultProxy, tmp_path: Path
) -> None:
    """BUG (found by loadtests.fault_bench, Redis restarting and answering LOADING just after a long outage): a Redis error between the lease renewal and the end of `_reclaim_after_lapse` escapes the lease task (traceback, supervisor restart); the restarted task finds its lease held and never redoes the reclaim, so an idle socket released by another hub meanwhile is not told to resume. Here the error is an ACL denial of the interview keys for a moment."""
    iv_id, token = await new_interview(own_store, own_redis)
    cut_off = start_hub(proxy.url, tmp_path, HUB_HUB_LEASE_S=LEASE_S)  # reaches Redis via proxy
    other = start_hub(own_redis.url, tmp_path, HUB_HUB_LEASE_S=LEASE_S)
    admin = Store.from_url(own_redis.url).redis
    await admin.execute_command("ACL", "SETUSER", "admin", "on", ">admin-pw", "~*", "&*", "+@all")
    await admin.aclose()
    admin = Store.from_url(own_redis.url.replace("redis://", "redis://admin:admin-pw@")).redis
    try:
        c = CandidateClient(cut_off.ws, token, PHONE)
        await c.join()
        await c.send_text("1,")
        await c.wait_acked()
        proxy.refuse(True)
        proxy.reset()

        async def released() -> bool:
            return (await admin.hget(f"{{iv:{iv_id}}}:meta", "session")) == ""

        await wait_until(released, "the other hub released the cut-off hub's socket")
        # the cut-off hub may renew its lease (hub* keys) but not read its interviews
        await admin.execute_command("ACL", "LOG", "RESET")
        await admin.execute_command("ACL", "SETUSER", "default", "resetkeys", "~hub*")
        proxy.refuse(False)

        async def reclaim_denied() -> bool:
            entries = await admin.execute_command("ACL", "LOG")
            return any(f"{{iv:{iv_id}}}:meta" in str(entry) for entry in entries)

        await wait_until(reclaim_denied, "the reclaim read the interview and was denied")
        await admin.execute_command("ACL", "SETUSER", "default", "allkeys")
        # the socket no longer holds the interview and no other device took it: resume
        with pytest.raises(ClientClosed) as closed:
            while True:
                await c.next_message(timeout=30)
        assert closed.value.code == CloseCode.INTERNAL_ERROR
        last = closed.value.last
        assert isinstance(last, Refused) and last.reason == "connection_interrupted"
        restarts = httpx.get(cut_off.http + "/healthz", timeout=5).json()["restarts"]
        assert "lease" not in restarts
    finally:
        await admin.execute_command("ACL", "SETUSER", "default", "allkeys")
        await admin.execute_command("ACL", "DELUSER", "admin")
        await admin.aclose()
        cut_off.stop()
        other.stop()
    assert "_reclaim_after_lapse" not in cut_off.log()
