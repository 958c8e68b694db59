"""A candidate's exit and HR's end, raced hundreds of times: one outcome that everyone reports."""

from __future__ import annotations

import asyncio
import contextlib
import random

import httpx
import websockets

from client.candidate import CandidateClient, ClientClosed
from client.monitor import MonitorClient
from protocol.messages import ChunkAcked, ConfirmExit, Ended, Exited, LiveEvent, Refused
from tests.conftest import PHONE, Hub, Org, interview_body

ROUNDS = 200


async def one_round(
    hub: Hub, org: Org, http: httpx.AsyncClient, store, monitor: MonitorClient
) -> str:
    created = (
        await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
    ).json()
    iv = created["interview_id"]
    c = CandidateClient(hub.ws, created["token"], PHONE)
    await c.join()
    await c.send_text("half an answer")
    await c.wait_acked()
    await c.request_exit()

    async def candidate_exits() -> list[object]:
        await asyncio.sleep(random.uniform(0, 0.008))  # jitter: let either side win
        with contextlib.suppress(websockets.ConnectionClosed):  # the end may have closed it
            await c.send(ConfirmExit())
        seen = []
        try:
            while True:
                seen.append(await c.next_message())
        except ClientClosed:
            return seen

    async def hr_ends() -> httpx.Response:
        await asyncio.sleep(random.uniform(0, 0.002))
        return await http.post(
            f"/api/hr/interviews/{iv}/end",
            json={"confirm": True},
            headers=org.auth("interview_lead"),
        )

    seen, response = await asyncio.gather(candidate_exits(), hr_ends())
    events = [e["kind"] for e in await store.events(iv)]
    snap, _ = await store.snapshot(iv)
    # HR's end always lands (end is allowed after an exit too); everyone agrees on "ended"
    assert response.status_code == 200 and response.json()["state"] == "ended"
    assert str(snap.state) == "ended"
    told = [m for m in seen if not isinstance(m, ChunkAcked)]
    exited_first = "exited" in events
    if exited_first:
        # the exit won: the candidate was told exited (4000), the end came after it
        assert isinstance(told[0], Exited) and c.close_code == 4000, told
        assert events.index("exited") < events.index("ended")
    else:
        # the end won: the candidate was told ended (4003), never exited
        assert isinstance(told[0], Ended | Refused) and c.close_code == 4003, told
        assert not any(isinstance(m, Exited) for m in told)
    assert events.count("ended") == 1 and events.count("exited") <= 1
    # the partial answer is kept exactly once, whoever won
    answers = await store.answers(iv)
    assert answers[0]["status"] == "partial"
    assert [x["data"] for x in await store.chunks(iv)] == ["half an answer"]
    # and a monitor watching the organisation saw the same order of events
    want = ["exited", "ended"] if exited_first else ["ended"]
    got: list[str] = []
    while got[-len(want) :] != want or len(got) < len(want):
        event = await monitor.next_of(LiveEvent, timeout=10, interview_id=iv)
        if event.kind in ("exited", "ended"):
            got.append(event.kind)
    assert got == want
    return "exit" if exited_first else "end"


async def test_exit_and_end_race_one_outcome(hub: Hub, org: Org, store) -> None:
    """200 races of confirm-exit against HR's end: candidate, monitor, API and Redis always agree."""
    outcomes = {"exit": 0, "end": 0}
    async with (
        httpx.AsyncClient(base_url=hub.http) as http,
        MonitorClient(f"ws://127.0.0.1:{hub.port}/ws/monitor", org.tokens["admin"]) as monitor,
    ):
        await monitor.watch("")
        for _ in range(ROUNDS):
            outcomes[await one_round(hub, org, http, store, monitor)] += 1
    assert sum(outcomes.values()) == ROUNDS
    print(f"race outcomes over {ROUNDS} rounds: {outcomes}")
