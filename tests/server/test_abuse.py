"""Hostile or careless input on the HTTP and HR side: each refused, nobody else affected."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from client.candidate import CandidateClient
from client.monitor import MonitorClient
from protocol.messages import Refused, TakenOver, Watch
from tests.conftest import PHONE, Hub, Org, interview_body, make_org


async def test_invitation_page_reflects_nothing_and_leaks_no_token(
    hub: Hub, make_interview
) -> None:
    """The candidate page is static (no part of the URL echoed), scripts are locked to the hub by CSP, and no Referer or cache keeps the token."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        evil = await http.get("/i/%3Cimg%20src=x%20onerror=alert(1)%3E';echo%20pwned;'")
        assert "<img" not in evil.text and "pwned" not in evil.text
        assert "script-src 'self'" in evil.headers["content-security-policy"]
        _, token = await make_interview(questions=1)
        page = await http.get(f"/i/{token}")
        assert page.status_code == 200 and token not in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_control_channel_survives_a_bad_message(hub: Hub, make_interview, store) -> None:
    """Garbage on the control channel is logged and skipped: takeovers still reach the old socket."""
    await store.redis.publish("hub:control", 'not json {"')
    await store.redis.publish("hub:control", "[1, 2]")
    _, token = await make_interview(questions=1)
    first = CandidateClient(hub.ws, token, PHONE)
    await first.join()
    second = CandidateClient(hub.ws, token, PHONE, device="other")
    await second.join()
    assert isinstance(await first.expect(TakenOver), TakenOver)
    await second.close()


async def test_candidate_centre_stays_inside_the_organisation(
    hub: Hub, org: Org, fresh_org: Org
) -> None:
    """The same phone in another organisation's interview is not listed in this one's candidate centre."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        mine = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
        ).json()
        theirs = (
            await http.post(
                "/api/hr/interviews", json=interview_body(), headers=fresh_org.auth("admin")
            )
        ).json()
        r = await http.post(
            "/api/candidate/centre", json={"token": mine["token"], "identity": PHONE}
        )
        listed = {i["interview_id"] for i in r.json()["interviews"]}
    assert mine["interview_id"] in listed and theirs["interview_id"] not in listed


async def test_identity_guesses_in_parallel_are_counted(hub: Hub, make_interview) -> None:
    """Thirty wrong identities at once: at most five are checked, the rest get too_many_attempts."""
    _, token = await make_interview(questions=1)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    "/api/candidate/centre", json={"token": token, "identity": f"1390000{i:04d}"}
                )
                for i in range(30)
            )
        )
    reasons = [a.json()["reason"] for a in answers]
    assert reasons.count("identity_mismatch") <= 5
    assert reasons.count("too_many_attempts") >= 25


async def test_login_lockout_and_user_names(hub: Hub, fresh_org: Org) -> None:
    """Repeated bad passwords from one address lock the user out there for a while; user names that could break keys are refused."""
    user = fresh_org.users["recruiter"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        codes = [
            (await http.post("/api/hr/login", json={"username": user, "password": "x"})).json()[
                "reason"
            ]
            for _ in range(11)
        ]
        assert codes[:10] == ["login_failed"] * 10 and codes[10] == "too_many_attempts"
        right = await http.post("/api/hr/login", json={"username": user, "password": "pw-" + user})
        assert right.status_code == 429  # still locked, even with the right password
        for bad in ('q"x', "victim:sessions", "UPPER", ""):
            r = await http.post(
                "/api/hr/users",
                json={"username": bad, "password": "p", "roles": ["recruiter"]},
                headers=fresh_org.auth("admin"),
            )
            assert r.status_code == 400 and r.json()["reason"] == "bad_field", bad


async def test_oversized_and_out_of_range_bodies(hub: Hub, org: Org) -> None:
    """A body over 64 KiB is 413 before it is read; absurd policy values are 400, not a broken interview."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        big = await http.post(
            "/api/candidate/centre",
            content=b"{" + b" " * 100_000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413 and big.json()["reason"] == "too_large"
        absurd = await http.post(
            "/api/hr/interviews",
            json=interview_body(resume_grace_s=10**20),
            headers=org.auth("admin"),
        )
        assert absurd.status_code == 400 and absurd.json()["reason"].startswith("bad_field")
        loose = await http.post(
            "/api/hr/interviews/x/reentry", json={"grant": 0}, headers=org.auth("admin")
        )
        assert loose.status_code == 400


async def test_monitor_refuses_a_bad_offset_and_stays_open(hub: Hub, org: Org) -> None:
    """An offset Redis cannot read is bad_field, not an internal error; the monitor goes on."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post("/api/hr/interviews", json=interview_body(), headers=org.auth("admin"))
        ).json()
    async with MonitorClient(f"ws://127.0.0.1:{hub.port}/ws/monitor", org.tokens["admin"]) as m:
        await m.send(Watch(created["interview_id"], "99999999999999999999-0", ""))
        refusal = await m.next_of(Refused)
        assert refusal.reason == "bad_field"
        assert (await m.watch(created["interview_id"])).interview_id == created["interview_id"]


async def test_revoked_permission_stops_a_live_monitor(hub: Hub, redis_server) -> None:
    """When a role loses interview.view, that role's open monitors are closed (4009) without sending anything."""
    org = await make_org(hub, redis_server.url)
    m = MonitorClient(f"ws://127.0.0.1:{hub.port}/ws/monitor", org.tokens["recruiter"])
    await m.connect()
    await m.watch("")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.put(
            "/api/hr/roles/recruiter", json={"permissions": []}, headers=org.auth("admin")
        )
        assert r.status_code == 200
    with pytest.raises(ConnectionError):
        while True:
            await m.next_message(timeout=15)
    assert m.close_code == 4009
