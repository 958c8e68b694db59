"""Two hub processes on one Redis: each sees what the other does, live."""

from __future__ import annotations

import httpx
import pytest

from client.candidate import CandidateClient, ClientClosed
from client.monitor import MonitorClient
from protocol.messages import Ended, LiveChunk, LiveEvent, TakenOver
from tests.conftest import PHONE, Hub, Org, interview_body, start_hub


@pytest.fixture
def second_hub(redis_server, tmp_path):
    other = start_hub(redis_server.url, tmp_path)
    yield other
    other.stop()


async def test_candidate_on_one_hub_monitor_and_end_on_the_other(
    hub: Hub, second_hub: Hub, org: Org
) -> None:
    """A monitor on hub B sees a candidate on hub A live, and an end issued on B closes A's socket."""
    async with httpx.AsyncClient(base_url=second_hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
        ).json()
        iv = created["interview_id"]
        async with MonitorClient(
            f"ws://127.0.0.1:{second_hub.port}/ws/monitor", org.tokens["admin"]
        ) as m:
            await m.watch(iv)
            c = CandidateClient(hub.ws, created["token"], PHONE)
            await c.join()
            assert (await m.next_of(LiveEvent, kind="joined")).interview_id == iv
            await c.send_text("across hubs")
            assert (await m.next_of(LiveChunk)).data == "across hubs"
            r = await http.post(
                f"/api/hr/interviews/{iv}/end",
                json={"confirm": True, "note": "from B"},
                headers=org.auth("interview_lead"),
            )
            assert r.status_code == 200
            ended = await c.expect(Ended)
            assert ended.note == "from B"
            with pytest.raises(ClientClosed):
                await c.next_message()
            assert c.close_code == 4003
            assert (await m.next_of(LiveEvent, kind="ended")).data["by"] == org.users[
                "interview_lead"
            ]


async def test_takeover_across_hubs(hub: Hub, second_hub: Hub, make_interview, store) -> None:
    """A second device joining through hub B takes over the first device's socket on hub A."""
    iv_id, token = await make_interview(questions=2)
    first = CandidateClient(hub.ws, token, PHONE, device="phone")
    await first.join()
    await first.send_text("on A ")
    await first.wait_acked()
    second = CandidateClient(second_hub.ws, token, PHONE, device="laptop")
    assert (await second.join()).mode == "resume"
    told = await first.expect(TakenOver)
    assert told.device == "laptop"
    await second.send_text("on B")
    await second.finish()
    await second.close()
    assert [c["data"] for c in await store.chunks(iv_id)] == ["on A ", "on B"]
