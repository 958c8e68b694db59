"""HR's live monitor: events and text as they happen, replay after a reconnect, slow monitors, end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from client.candidate import CandidateClient
from client.monitor import MonitorClient
from protocol import MONITOR_SUBPROTOCOL
from protocol.messages import Behind, EndDone, Ended, LiveChunk, LiveEvent, Refused, Watch
from server.accounts import session_hash
from server.monitor import READ_COUNT
from server.store.embedded import EmbeddedRedis
from tests.conftest import PHONE, Hub, Org, free_port, interview_body, make_org, start_hub


async def create(hub: Hub, org: Org, questions: int = 2, **policy) -> dict:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/hr/interviews",
            json=interview_body(questions, **policy),
            headers=org.auth("admin"),
        )
        return r.json()


def monitor_url(hub: Hub) -> str:
    return f"ws://127.0.0.1:{hub.port}/ws/monitor"


async def test_monitor_sees_the_interview_live(hub: Hub, org: Org) -> None:
    """A monitor sees join, the answer text as it is typed, the exit request and the exit with progress."""
    created = await create(hub, org)
    iv = created["interview_id"]
    async with MonitorClient(monitor_url(hub), org.tokens["recruiter"]) as m:
        watching = await m.watch(iv)
        assert watching.summary["state"] == "invited"
        async with CandidateClient(hub.ws, created["token"], PHONE, device="laptop") as c:
            await c.join()
            joined = await m.next_of(LiveEvent, kind="joined")
            assert joined.interview_id == iv and joined.data["mode"] == "start"
            assert joined.data["device"] == "laptop"
            for word in ("I ", "built ", "a hub"):
                await c.send_text(word)
            text = ""
            while text != "I built a hub":
                chunk = await m.next_of(LiveChunk)
                text += chunk.data
            await c.request_exit()
            requested = await m.next_of(LiveEvent, kind="exit_requested")
            assert requested.data["progress"]["answered"] == 0
            await c.confirm_exit()
            exited = await m.next_of(LiveEvent, kind="exited")
            assert exited.data["partial_q"] == 0 and exited.data["progress"]["partial"] == 1


async def test_reconnecting_monitor_replays_what_it_missed_once(hub: Hub, org: Org) -> None:
    """A monitor that reconnects with its last offsets gets exactly the events and chunks it missed."""
    created = await create(hub, org)
    iv = created["interview_id"]
    c = CandidateClient(hub.ws, created["token"], PHONE)
    first = MonitorClient(monitor_url(hub), org.tokens["admin"])
    await first.connect()
    await first.watch(iv)
    await c.join()
    await c.send_text("before ")
    await first.next_of(LiveChunk)
    await first.close()
    seen_event, seen_chunk = first.last_event[iv], first.last_chunk[iv]
    # while the monitor is away: more text, an exit request, an exit
    for word in ("while ", "away"):
        await c.send_text(word)
    await c.request_exit()
    await c.confirm_exit()
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as again:
        await again.watch(iv, after_event=seen_event, after_chunk=seen_chunk)
        chunks, kinds = [], []
        while len(chunks) < 2 or "exited" not in kinds:
            msg = await again.next_message()
            if isinstance(msg, LiveChunk):
                chunks.append(msg.data)
            elif isinstance(msg, LiveEvent):
                kinds.append(msg.kind)
        assert chunks == ["while ", "away"]
        assert kinds == ["exit_requested", "answer_closed", "exited"]
        # and nothing twice: a full replay from the start has each entry once, in the same order
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as full:
        await full.watch(iv, after_event="0", after_chunk="0")
        await asyncio.sleep(0.3)
        ids = [(type(m), m.id) for m in full.received if isinstance(m, LiveEvent | LiveChunk)]
        assert len(ids) == len(set(ids))
        assert [m.data for m in full.received if isinstance(m, LiveChunk)] == [
            "before ",
            "while ",
            "away",
        ]


async def test_a_monitor_that_drops_before_its_first_entry_resumes_from_watching(
    hub: Hub, org: Org
) -> None:
    """`watching` names the offsets the watch starts after: a monitor that drops before any entry came watches again from them and gets everything since, once."""
    created = await create(hub, org)
    iv = created["interview_id"]
    first = MonitorClient(monitor_url(hub), org.tokens["admin"])
    await first.connect()
    watching = await first.watch(iv)  # from now
    assert watching.after_event and watching.after_chunk  # real ids, not ""
    await first.close()
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await c.send_text("said while no monitor was there")
        await c.wait_acked()
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as again:
        await again.watch(iv, after_event=first.last_event[iv], after_chunk=first.last_chunk[iv])
        joined = await again.next_of(LiveEvent, kind="joined")
        chunk = await again.next_of(LiveChunk)
        assert joined.interview_id == iv and chunk.data == "said while no monitor was there"
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as whole:
        org_watching = await whole.watch("")
        assert org_watching.after_event and org_watching.after_chunk == ""


async def test_monitor_too_far_behind_is_told_to_reload(hub: Hub, org: Org, store) -> None:
    """When the events after a monitor's offset were trimmed away, it gets `behind` instead of a silent gap."""
    created = await create(hub, org)
    iv = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        events = await store.events(iv)
        old_offset = events[0]["id"]
        await c.request_exit()
        await c.cancel_exit()
        await c.request_exit()
    await store.redis.xtrim(f"{{iv:{iv}}}:events", maxlen=1, approximate=False)  # as the cap would
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as m:
        await m.watch(iv, after_event=old_offset)
        behind = await m.next_of(Behind)
        assert behind.interview_id == iv


async def test_end_from_the_monitor_checks_the_permission(hub: Hub, org: Org) -> None:
    """A recruiter's end from the monitor is refused with the permission; a lead's ends it and the candidate is told."""
    created = await create(hub, org)
    iv = created["interview_id"]
    c = CandidateClient(hub.ws, created["token"], PHONE)
    await c.join()
    async with MonitorClient(monitor_url(hub), org.tokens["recruiter"]) as viewer:
        await viewer.end(iv, "not mine to end")
        refusal = await viewer.next_of(Refused)
        assert refusal.reason == "permission_denied:interview.end"
    async with MonitorClient(monitor_url(hub), org.tokens["interview_lead"]) as lead:
        await lead.watch(iv)
        await lead.end(iv, "we have what we need")
        done = ended_event = None
        while done is None or ended_event is None:  # the two may come in either order
            msg = await lead.next_message()
            if isinstance(msg, EndDone):
                done = msg
            elif isinstance(msg, LiveEvent) and msg.kind == "ended":
                ended_event = msg
        assert done.state == "ended"
        assert ended_event.data["by"] == org.users["interview_lead"]
    told = await c.expect(Ended)
    assert told.note == "we have what we need"


async def test_org_watch_sees_its_own_organisation_only(hub: Hub, org: Org, fresh_org: Org) -> None:
    """An organisation watch gets events of every interview of its organisation and none of another's."""
    mine = await create(hub, org)
    theirs = await create(hub, fresh_org)
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as m:
        await m.watch("")
        async with CandidateClient(hub.ws, theirs["token"], PHONE) as other:
            await other.join()
        async with CandidateClient(hub.ws, mine["token"], PHONE) as c:
            await c.join()
            joined = await m.next_of(LiveEvent, kind="joined")
            assert joined.interview_id == mine["interview_id"] and joined.watch == ""
        await asyncio.sleep(0.3)
        sources = {x.interview_id for x in m.received if isinstance(x, LiveEvent)}
        assert theirs["interview_id"] not in sources


async def test_logout_closes_the_monitor(hub: Hub, fresh_org: Org) -> None:
    """Logging out closes that session's live monitor with 4008."""
    m = MonitorClient(monitor_url(hub), fresh_org.tokens["admin"])
    await m.connect()
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/logout", headers=fresh_org.auth("admin"))
        assert r.status_code == 200
    with pytest.raises(ConnectionError):
        while True:
            await m.next_message()
    assert m.close_code == 4008


async def test_monitor_needs_a_session(hub: Hub) -> None:
    """A monitor with a bad token is closed with 4009 and not_logged_in."""
    m = MonitorClient(monitor_url(hub), "forged")
    with pytest.raises(AssertionError, match="not_logged_in"):
        await m.connect()
    await m.close()
    assert m.close_code == 4009


class NonReadingMonitor:
    """A monitor that authenticates, watches, and then never reads its socket (tiny buffer)
    until told to: what arrives then is counted (chunks, refusals, the close code)."""

    def __init__(
        self, url: str, token: str, iv: str, after_event: str = "", after_chunk: str = ""
    ) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        from protocol.codec import encode
        from protocol.messages import Authenticate, Watch

        self.chunks = 0
        self.reasons: list[str] = []
        self.code: int | None = None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        uri = parse_uri(url)
        self.sock.connect((uri.host, uri.port))
        self.protocol = ClientProtocol(uri, subprotocols=[MONITOR_SUBPROTOCOL])
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            self.protocol.receive_data(self.sock.recv(4096))
            if getattr(self.protocol, "response", None) is not None:
                break
        for msg in (Authenticate(token), Watch(iv, after_event, after_chunk)):
            self.protocol.send_binary(encode(msg))
        self._flush()

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def _take(self, data: bytes) -> list[str]:
        """Feed what was read; the types of the messages it completed."""
        from websockets.frames import Close, Opcode

        from protocol.codec import decode_monitor_server

        self.protocol.receive_data(data)
        types = []
        for event in self.protocol.events_received():
            if event.opcode is Opcode.BINARY:
                msg = decode_monitor_server(event.data)
                types.append(msg.TYPE)
                self.chunks += msg.TYPE == "chunk"
                if isinstance(msg, Refused):
                    self.reasons.append(msg.reason)
            elif event.opcode is Opcode.CLOSE:
                self.code = Close.parse(event.data).code
        return types

    def read_until(self, kind: str, timeout: float) -> None:
        """Read (a little at a time) until a message of type ``kind`` has come."""
        self.sock.settimeout(timeout)
        while kind not in self._take(self.sock.recv(4096)):
            pass

    def read_until_closed(self, timeout: float) -> tuple[int | None, int]:
        """Now read everything: (the close code received, how many chunk messages came)."""
        self.sock.settimeout(timeout)
        while self.code is None:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            self._take(data)
        self.sock.close()
        return self.code, self.chunks


async def test_slow_monitor_is_dropped_and_nobody_else_waits(
    redis_server, tmp_path, org: Org
) -> None:
    """A monitor that does not read is dropped; the candidate and a reading monitor get everything."""
    own = start_hub(
        redis_server.url,
        tmp_path,
        HUB_MONITOR_MAX_QUEUE="20",
        HUB_MONITOR_STALL_S="1",
        HUB_MAX_ANSWER_BYTES="0",  # 9 MB in one answer: far over the default cap
    )
    try:
        created = await create(own, org)
        iv = created["interview_id"]
        slow = await asyncio.to_thread(NonReadingMonitor, monitor_url(own), org.tokens["admin"], iv)
        async with MonitorClient(monitor_url(own), org.tokens["admin"]) as reader:
            await reader.watch(iv)
            async with CandidateClient(own.ws, created["token"], PHONE) as c:
                await c.join()
                big = "x" * 15_000
                for _ in range(600):  # ~9 MB: far more than a 4 KB receive buffer holds
                    await c.send_text(big)
                await c.wait_acked(timeout=120)
                assert c.acked[0] == 600
            count = sum(1 for x in reader.received if isinstance(x, LiveChunk))
            while count < 600:
                await reader.next_of(LiveChunk, timeout=30)
                count += 1
        for _ in range(100):  # the hub notices the stall (1 s), then gives up sending (3 s)
            if "monitor socket does not read; dropping it" in own.log():
                break
            await asyncio.sleep(0.1)
        assert "too slow" in own.log()
        code, chunks = await asyncio.to_thread(slow.read_until_closed, 30)
        assert chunks < 600  # it was dropped, not waited for
        assert code in (None, 4007)  # a socket that never read may not even get the close frame
    finally:
        own.stop()


async def test_many_watches_in_a_burst_all_go_live(hub: Hub, org: Org) -> None:
    """Watches sent back to back on one socket each get `watching`, and every interview's text arrives live."""
    from protocol.messages import Watch, Watching

    created = [await create(hub, org, 1) for _ in range(30)]
    async with MonitorClient(monitor_url(hub), org.tokens["admin"]) as m:
        for item in created:
            await m.send(Watch(item["interview_id"], "0", "0"))  # no waiting between them
        watching = set()
        while len(watching) < len(created):
            msg = await m.next_message(timeout=20)
            if isinstance(msg, Watching):
                watching.add(msg.interview_id)
        clients = [CandidateClient(hub.ws, item["token"], PHONE) for item in created]
        for c in clients:
            await c.join()
            await c.send_text(f"from {c.token[:16]}")
        seen = set()
        while len(seen) < len(created):
            chunk = await m.next_of(LiveChunk, timeout=20)
            seen.add(chunk.interview_id)
        for c in clients:
            await c.close()
    assert seen == {item["interview_id"] for item in created}


async def test_a_chunk_written_right_after_watching_from_now_is_delivered(
    hub: Hub, org: Org
) -> None:
    """Watch "from now" (after another watch), then a chunk at once: it arrives live, every time (now is fixed before `watching` goes out)."""
    url = hub.ws.replace("/ws/candidate", "/ws/monitor")
    async with httpx.AsyncClient(base_url=hub.http) as http:

        async def create() -> dict[str, str]:
            r = await http.post(
                "/api/hr/interviews", json=interview_body(1), headers=org.auth("admin")
            )
            return r.json()

        pairs = [(await create(), await create()) for _ in range(6)]
    monitor = MonitorClient(url, org.tokens["admin"])
    await monitor.connect()
    for target, other in pairs:
        async with CandidateClient(hub.ws, target["token"], PHONE) as c:
            await c.join()
            # a watch with an old offset first: its reader is what the next watch replaces
            await monitor.send(Watch(other["interview_id"], "0-18446744073709551615", ""))
            await monitor.next_of(Behind, timeout=10)
            await monitor.watch(target["interview_id"])
            await c.send_text("right after")
            chunk = await monitor.next_of(LiveChunk, timeout=10)
            assert (chunk.interview_id, chunk.data) == (target["interview_id"], "right after")
    await monitor.close()


# --- a monitor whose session ends while a busy interview's backlog is queued for it ---------

BUSY_CHUNKS = 2_000
BUSY_CHUNK = 8 * 1024
SMALL_QUEUE = 100


@dataclass
class Busy:
    """A Redis of its own (the tests read its client list), an organisation, an interview
    with 2,000 binary chunks of 8 KB, a hub with the default monitor queue and one with a small
    queue (monitors wait for their readers, never dropped as too slow meanwhile)."""

    redis: EmbeddedRedis
    hub: Hub
    small_queue: Hub
    org: Org
    interview_id: str

    async def live_readers(self, count: int) -> None:
        """Wait until ``count`` monitors read live: each holds a connection whose last
        command is XREAD (the monitor's own, opened once its replay is over, closed when
        the monitor is)."""
        client = aioredis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            for _ in range(1200):
                found = sum(1 for c in await client.client_list() if c.get("cmd") == "xread")
                if found == count:
                    return
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise AssertionError(f"{found} monitors read live, not {count}")


def in_flight_bytes() -> int:
    """The most that socket buffers can hold between the hub and a monitor that does not
    read: the hub's send buffer (at most tcp_wmem's maximum), the monitor's 4 KB receive
    buffer (doubled by the kernel), the hub's write buffer (64 KiB before it pauses), and
    a frame in each."""
    wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return wmem_max + 2 * 4096 + 64 * 1024 + 2 * (BUSY_CHUNK + 256)


@pytest.fixture(scope="module")
async def busy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Busy]:
    own = EmbeddedRedis(tmp_path_factory.mktemp("busy-redis"), port=free_port())
    own.start()
    quick = {
        "HUB_MONITOR_STALL_S": "300",
        "HUB_MAX_ANSWER_BYTES": "0",
        "HUB_CHUNKS_PER_S": "100000",
        "HUB_CHUNK_BURST": "100000",
        "HUB_CHUNK_BYTES_PER_S": "1000000000",
        "HUB_CHUNK_BYTES_BURST": "1000000000",
    }
    hub = start_hub(own.url, tmp_path_factory.mktemp("busy-hub"), **quick)
    small = start_hub(
        own.url,
        tmp_path_factory.mktemp("busy-small"),
        HUB_MONITOR_MAX_QUEUE=str(SMALL_QUEUE),
        **quick,
    )
    try:
        org = await make_org(hub, own.url)
        created = await create(hub, org)
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            for i in range(BUSY_CHUNKS):  # binary (say, audio): `watching` carries no text
                await c.send_text(i.to_bytes(4, "big") * (BUSY_CHUNK // 4))
            await c.wait_acked(timeout=300)
            assert c.acked[0] == BUSY_CHUNKS
        yield Busy(own, hub, small, org, created["interview_id"])
    finally:
        hub.stop()
        small.stop()
        own.stop()


async def test_a_disabled_users_monitor_gets_nothing_more_of_a_busy_interview(
    busy: Busy,
) -> None:
    """Disabling a user closes their monitor at once: none of the busy interview's chunks
    queued for it is sent after that (only what the socket buffers already held arrives,
    far fewer than were queued), then refused{account_disabled} and 4008."""
    org = busy.org
    slow = await asyncio.to_thread(
        NonReadingMonitor,
        monitor_url(busy.hub),
        org.tokens["recruiter"],
        busy.interview_id,
        "0",
        "0",
    )
    await asyncio.to_thread(slow.read_until, "watching", 30)
    await busy.live_readers(1)  # its replay is over: every chunk is queued for it, or sent
    async with httpx.AsyncClient(base_url=busy.hub.http) as http:
        r = await http.post(
            f"/api/hr/users/{org.users['recruiter']}/disable", headers=org.auth("admin")
        )
        assert r.status_code == 200, r.text
    await busy.live_readers(0)  # the hub has closed it
    code, chunks = await asyncio.to_thread(slow.read_until_closed, 60)
    assert (code, slow.reasons[-1:]) == (4008, ["account_disabled"])
    assert chunks * BUSY_CHUNK <= in_flight_bytes() < BUSY_CHUNKS * BUSY_CHUNK, chunks


async def test_a_long_replay_stops_when_the_session_has_ended(busy: Busy) -> None:
    """A session that ends without word to the hub (it expired) stops a long replay at its
    next 500 entries: the monitor gets refused{not_logged_in} and 4008, not the backlog."""
    org = busy.org
    token = org.tokens["interview_lead"]
    slow = await asyncio.to_thread(
        NonReadingMonitor, monitor_url(busy.small_queue), token, busy.interview_id, "0", "0"
    )
    await asyncio.to_thread(slow.read_until, "chunk", 30)  # the chunks' replay has begun
    read_before = slow.chunks
    client = aioredis.Redis.from_url(busy.redis.url)
    try:
        assert await client.delete(f"hrsession:{session_hash(token)}") == 1  # as expiry does
    finally:
        await client.aclose()
    code, chunks = await asyncio.to_thread(slow.read_until_closed, 60)
    assert (code, slow.reasons[-1:]) == (4008, ["not_logged_in"])
    # before the session ended: what it read, its queue, the buffers; after: the rest of
    # the batch of the replay then under way
    most = read_before + SMALL_QUEUE + in_flight_bytes() // BUSY_CHUNK + READ_COUNT
    assert chunks <= most < BUSY_CHUNKS, chunks
