"""Small pieces of the hub: the client address the log records."""

from __future__ import annotations

import httpx

from client.candidate import CandidateClient
from server.hub import peer_ip
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
