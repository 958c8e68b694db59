"""The candidate hub: the client address the log records, and its sockets in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from client.candidate import CandidateClient
from protocol import SUBPROTOCOL
from protocol.closecodes import CloseCode
from protocol.codec import decode_server, encode
from protocol.messages import (
    ChunkAcked,
    ConfirmExit,
    Exited,
    FinishAnswer,
    Join,
    Joined,
    QuestionStarted,
    RequestExit,
    SendChunk,
)
from server.candidates import Caller, CandidateService
from server.hub import CandidateHub, peer_ip
from server.settings import Settings
from server.store import Store
from tests.conftest import PHONE, Hub, Org, interview_body


def scope(peer: str, forwarded: str = "") -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 1234), "headers": headers}


def test_forwarded_for_only_from_trusted_proxies() -> None:
    """X-Forwarded-For is believed only from a trusted proxy, and only up to the first untrusted hop."""
    trusted = frozenset({"10.0.0.1", "10.0.0.2"})
    assert (
        peer_ip(scope("203.0.113.9", "6.6.6.6"), trusted) == "203.0.113.9"
    )  # not a proxy: ignored
    assert peer_ip(scope("10.0.0.1", "198.51.100.7"), trusted) == "198.51.100.7"
    assert peer_ip(scope("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2"), trusted) == "198.51.100.7"
    assert peer_ip(scope("10.0.0.1"), trusted) == "10.0.0.1"
    assert peer_ip(scope("10.0.0.1", "198.51.100.7"), frozenset()) == "10.0.0.1"


async def test_a_spoofed_forwarded_header_is_not_logged(hub: Hub, org: Org) -> None:
    """With no trusted proxy configured, a client's own X-Forwarded-For does not change the logged IP."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post(
                "/api/hr/interviews",
                json=interview_body(),
                headers={**org.auth("admin"), "X-Forwarded-For": "6.6.6.6"},
            )
        ).json()
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
        entries = (
            await http.get(
                f"/api/hr/interviews/{created['interview_id']}/log", headers=org.auth("admin")
            )
        ).json()["entries"]
    assert {e["ip"] for e in entries} == {"127.0.0.1"}


class LocalSocket:
    """A websocket to an in-process CandidateHub through ASGI events (no network): the
    hub's own code on a real Redis, without a control listener unless the test starts one."""

    def __init__(self, hub: CandidateHub) -> None:
        self.hub = hub
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "subprotocols": [SUBPROTOCOL],
            "headers": [],
            "client": ("127.0.0.1", 1234),
        }
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.create_task(hub(scope, self.incoming.get, self.outgoing.put))

    def send(self, msg: Any) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "bytes": encode(msg)})

    async def next(self) -> Any:
        """The next message other than an ack, or ("close", code)."""
        while True:
            event = await asyncio.wait_for(self.outgoing.get(), 30)
            if event["type"] == "websocket.close":
                return ("close", event["code"])
            if event["type"] == "websocket.send":
                msg = decode_server(event["bytes"])
                if not isinstance(msg, ChunkAcked):
                    return msg

    async def close(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def local_hub(store: Store, settings: Settings) -> AsyncIterator[CandidateHub]:
    """A CandidateHub in this process whose chunk writer runs, and nothing else: control
    messages (takeover, HTTP exit, HR end) never reach its sockets."""
    service = CandidateService(store, settings)
    hub = CandidateHub(store, service, settings)
    writer = asyncio.create_task(hub.writer.run())
    yield hub
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer


async def joined_socket(hub: CandidateHub, token: str) -> LocalSocket:
    sock = LocalSocket(hub)
    sock.send(Join(token, PHONE, "local"))
    assert isinstance(await sock.next(), Joined)
    assert isinstance(await sock.next(), QuestionStarted)
    return sock


async def exit_over_http(hub: CandidateHub, iv_id: str) -> None:
    """What POST /api/candidate/exit does: preview, then confirm, without a session."""
    caller = Caller(ip="127.0.0.1")
    await hub.service.request_exit(iv_id, None, caller)
    assert not (await hub.service.confirm_exit(iv_id, None, caller)).refusal


async def test_an_http_exit_found_by_a_chunk_write_closes_with_exited(
    local_hub: CandidateHub, make_interview
) -> None:
    """A chunk written after an HTTP exit whose control message has not arrived gets exited + 4000 (with the interrupted question), never not_in_progress + 1000."""
    iv_id, token = await make_interview(questions=3, second_entry=True)
    sock = await joined_socket(local_hub, token)
    sock.send(SendChunk(0, 1, "half"))
    await exit_over_http(local_hub, iv_id)
    sock.send(SendChunk(0, 2, "more"))
    exited = await sock.next()
    assert isinstance(exited, Exited), exited
    assert exited.partial_q == 0 and exited.reentry_allowed and exited.reentry_until_ms > 0
    assert await sock.next() == ("close", CloseCode.EXITED)
    await sock.close()


async def test_a_command_after_an_http_exit_closes_with_exited(
    local_hub: CandidateHub, make_interview
) -> None:
    """A finish or exit request after an HTTP exit (control message not yet there) gets exited + 4000 too."""
    for command in (FinishAnswer(0, 0), RequestExit()):
        iv_id, token = await make_interview(questions=2)
        sock = await joined_socket(local_hub, token)
        await exit_over_http(local_hub, iv_id)
        sock.send(command)
        exited = await sock.next()
        assert isinstance(exited, Exited), (command, exited)
        assert exited.partial_q == 0 and not exited.reentry_allowed
        assert await sock.next() == ("close", CloseCode.EXITED)
        await sock.close()


async def test_a_decision_resent_after_a_lost_reply_is_applied_once(
    store: Store, settings: Settings, make_interview
) -> None:
    """apply_decision.lua called twice with the same arguments (a client resending after a lost reply) answers the same and changes nothing the second time; a join never takes over from its own session."""
    iv_id, _ = await make_interview()
    original = store._apply
    answers: list[Any] = []

    async def twice(*, keys: list[str], args: list[Any]) -> Any:
        answers.append(await original(keys=keys, args=args))
        answers.append(await original(keys=keys, args=args))
        return answers[-1]

    store._apply = twice  # type: ignore[method-assign]
    try:
        decision = await CandidateService(store, settings).join(iv_id, "s1", Caller())
    finally:
        store._apply = original  # type: ignore[method-assign]
    assert answers[0] == answers[1] and int(answers[0][0]) == 1
    assert not decision.taken_over
    kinds = [e["kind"] for e in await store.events(iv_id)]
    assert kinds.count("joined") == 1 and kinds.count("question_started") == 1
    assert [e["action"] for e in await store.oplog(iv_id)].count("join") == 1
    again = await CandidateService(store, settings).join(iv_id, "s1", Caller())
    assert not again.taken_over  # the same session joining again takes nothing over


async def test_candidates_are_served_when_their_organisations_log_cannot_be_appended(
    local_hub: CandidateHub, store: Store, settings: Settings
) -> None:
    """Someone who writes to Redis blocks every append to an organisation's log (an entry with the largest id): its candidates still join, answer and exit; their own logs stay whole."""
    from server.interviews import InterviewSpec, create_interview
    from tests.conftest import now_ms

    org = f"blocked{now_ms()}"
    spec = InterviewSpec.from_dict(
        {
            "candidate": {"name": "C", "id_number": "110101199003071234", "phone": PHONE},
            "position": "P",
            "org": org,
            "questions": [{"text": "Q1"}, {"text": "Q2"}],
        }
    )
    created = await create_interview(store, settings, spec, now_ms())
    await store.redis.xadd(
        f"{{org:{org}}}:log", {"x": "1"}, id="18446744073709551615-18446744073709551615"
    )
    sock = await joined_socket(local_hub, created.token)
    sock.send(SendChunk(0, 1, "still saved"))
    sock.send(RequestExit())
    assert type(await sock.next()).__name__ == "ExitPreviewed"
    sock.send(ConfirmExit())
    assert isinstance(await sock.next(), Exited)
    assert await sock.next() == ("close", CloseCode.EXITED)
    await sock.close()
    assert [c["data"] for c in await store.chunks(created.interview_id)] == ["still saved"]
    actions = [e["action"] for e in await store.oplog(created.interview_id)]
    assert actions[-3:] == ["join", "exit_request", "exit"]
