"""The OWASP websocket items not covered elsewhere, each pinned by a test.

Covered in other files: a bad Origin or missing subprotocol is refused before the websocket
is accepted (test_bad_input::test_handshake_needs_subprotocol_and_allowed_origin), missing,
malformed, unknown and expired tokens (test_bad_input::test_bad_tokens_and_identities_are_refused,
::test_expired_link_is_refused), an oversized message closes with 1009
(::test_oversized_message_closes_1009_and_others_go_on), a flood is throttled then closed
(::test_a_flood_of_commands_is_throttled_then_closed).
"""

from __future__ import annotations

import httpx
import msgpack
import pytest
import websockets

from client.candidate import CandidateClient
from protocol import MONITOR_SUBPROTOCOL
from protocol.messages import Refused
from server.store import Store
from tests.conftest import PHONE, Hub, Org, interview_body


@pytest.mark.parametrize("hr_type", ["end", "watch", "auth", "unwatch"])
async def test_candidate_sending_an_hr_command_is_refused_and_logged(
    hub: Hub, org: Org, store: Store, hr_type: str
) -> None:
    """An HR-only command on a candidate socket gets unknown_type, changes nothing, and is written to the server log and the interview's operation log."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
    created = r.json()
    iv_id = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        assert c.ws is not None
        await c.ws.send(
            msgpack.packb({"type": hr_type, "interview_id": iv_id, "confirm": True, "note": "x"})
        )
        refusal = await c.expect(Refused)
        assert refusal.reason == "unknown_type" and refusal.refused_type == hr_type
        await c.send_text("still answering")
        await c.wait_acked()
    assert (await store.meta(iv_id))["state"] == "in_progress"
    entries = [e for e in await store.oplog(iv_id) if e.get("action") == f"hr_command:{hr_type}"]
    assert len(entries) == 1 and entries[0]["outcome"] == "unknown_type"
    assert f"sent the HR-only command {hr_type!r}" in hub.log()


async def test_monitor_socket_refuses_a_foreign_origin_before_accepting(hub: Hub, org: Org) -> None:
    """The HR monitor socket, like the candidate's, answers a foreign Origin with HTTP 403 and never opens."""
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(
            hub.ws.replace("/ws/candidate", "/ws/monitor"),
            subprotocols=[MONITOR_SUBPROTOCOL],
            origin="https://evil.example",
            additional_headers={"Authorization": f"Bearer {org.tokens['admin']}"},
        ):
            pass
    assert refused.value.response.status_code == 403
    assert b"origin_not_allowed" in refused.value.response.body
