"""The Python client against a real hub: outbox, resends after a gap."""

from __future__ import annotations

from client.candidate import CandidateClient
from tests.conftest import PHONE, Hub


async def test_client_fills_a_gap_the_server_reports(hub: Hub, make_interview, store) -> None:
    """When a chunk never reached the server, the client resends from the seq_gap's expected_seq."""
    iv_id, token = await make_interview(questions=1)
    c = CandidateClient(hub.ws, token, PHONE)
    await c.join()
    await c.send_text("one ")
    await c.wait_acked()
    # chunk 2 is "lost on the way": it goes into the outbox but is never sent
    c.outbox[(0, 2)] = "two "
    c.next_seq[0] = 3
    await c.send_text("three")
    await c.wait_acked()
    await c.close()
    assert [x["data"] for x in await store.chunks(iv_id)] == ["one ", "two ", "three"]
    assert not c.outbox
