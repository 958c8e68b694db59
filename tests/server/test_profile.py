"""The candidate's file: one organisation's interviews of one person (by ID card, else phone), each attempt with its reports, reachable from any of them and by its id; nobody else's."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from client.candidate import CandidateClient
from server import identity
from server.store import Store
from tests.conftest import ID_NUMBER, PHONE, SECRET, Hub, Org, interview_body, make_org


def body_for(position: str, id_number: str = ID_NUMBER, phone: str = PHONE) -> dict[str, Any]:
    body = interview_body(1)
    body["position"] = position
    body["candidate"] = {"name": f"Li Lei ({position})", "id_number": id_number, "phone": phone}
    return body


async def created(http: httpx.AsyncClient, org: Org, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def completed(hub: Hub, http: httpx.AsyncClient, org: Org, body: dict[str, Any]) -> str:
    """An interview answered to the end; its automatic report (version 1) made."""
    made = await created(http, org, body)
    async with CandidateClient(hub.ws, made["token"], PHONE) as c:
        await c.join()
        await c.send_text("I led the migration and cut the costs by a third.")
        await c.finish()
    iv = made["interview_id"]
    for _ in range(200):
        r = await http.get(f"/api/hr/interviews/{iv}/report", headers=org.auth("admin"))
        if r.status_code == 200:
            return str(iv)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no report for {iv}")


async def profile_of(http: httpx.AsyncClient, org: Org, iv: str, role: str = "recruiter") -> Any:
    r = await http.get(f"/api/hr/interviews/{iv}/profile", headers=org.auth(role))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_profile_gathers_the_persons_interviews_in_the_organisation(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """Two interviews invited with the same ID card are one file, oldest first, the same from either and by its id; another person's and a phone-only invitation are not in it."""
    org = fresh_org
    async with httpx.AsyncClient(base_url=hub.http) as http:
        first = await completed(hub, http, org, body_for("Analyst"))
        second = (await created(http, org, body_for("Engineer", phone="13900139000")))[
            "interview_id"
        ]
        other = (await created(http, org, body_for("Analyst", id_number="11010119800101001X")))[
            "interview_id"
        ]
        phone_only = (await created(http, org, body_for("Analyst", id_number="")))["interview_id"]
        profile = await profile_of(http, org, first)
        assert [i["interview_id"] for i in profile["interviews"]] == [first, second]
        assert [i["position"] for i in profile["interviews"]] == ["Analyst", "Engineer"]
        assert profile["candidate"] == "Li Lei (Engineer)"  # the newest invitation's name
        assert profile["id_number"] == identity.mask(ID_NUMBER)
        expected = identity.profile_id(SECRET, org.name, identity.keyed_hash(SECRET, ID_NUMBER), "")
        assert profile["profile_id"] == expected
        assert (await profile_of(http, org, second)) == profile
        by_id = await http.get(f"/api/hr/profiles/{expected}", headers=org.auth("recruiter"))
        assert by_id.status_code == 200 and by_id.json() == profile
        done = profile["interviews"][0]
        assert done["state"] == "completed"
        assert done["attempts"][0]["versions"] == 1
        assert done["attempts"][0]["latest"]["trigger"] == "completed"
        assert profile["interviews"][1]["attempts"] == [
            {"attempt": 1, "current": True, "state": "invited", "versions": 0, "latest": None}
        ]
        assert [i["interview_id"] for i in (await profile_of(http, org, other))["interviews"]] == [
            other
        ]
        alone = await profile_of(http, org, phone_only)  # keyed by the phone: a file of its own
        assert [i["interview_id"] for i in alone["interviews"]] == [phone_only]
        assert alone["profile_id"] != expected


async def test_another_organisation_sees_neither_the_file_nor_its_interviews(
    hub: Hub, fresh_org: Org, redis_server: Any
) -> None:
    """The same person invited by two organisations has two files with unrelated ids; neither organisation can open the other's by id or by interview."""
    org = fresh_org
    rival = await make_org(hub, redis_server.url)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        ours = (await created(http, org, body_for("Analyst")))["interview_id"]
        theirs = (await created(http, rival, body_for("Analyst")))["interview_id"]
        mine = await profile_of(http, org, ours)
        other = await profile_of(http, rival, theirs)
        assert mine["profile_id"] != other["profile_id"]
        assert [i["interview_id"] for i in other["interviews"]] == [theirs]
        for path in (
            f"/api/hr/profiles/{mine['profile_id']}",
            f"/api/hr/interviews/{ours}/profile",
        ):
            r = await http.get(path, headers=rival.auth("admin"))
            assert r.status_code == 404 and r.json()["reason"] == "not_found", r.text
        bad = await http.get("/api/hr/profiles/..%2Fx", headers=org.auth("admin"))
        assert bad.status_code == 404


async def test_a_reset_attempt_and_its_report_stay_in_the_file_and_an_erasure_leaves_it(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """After a reset the file lists both attempts (the first with its report outline and a person's decision); an erased interview is no longer in the file."""
    org = fresh_org
    lead = org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await completed(hub, http, org, body_for("Analyst"))
        kept = await completed(hub, http, org, body_for("Designer"))
        decided = await http.post(
            f"/api/hr/interviews/{iv}/report/decision", json={"decision": "hold"}, headers=lead
        )
        assert decided.status_code == 201, decided.text
        reset = await http.post(
            f"/api/hr/interviews/{iv}/reset", json={"confirm": True}, headers=org.auth("admin")
        )
        assert reset.status_code == 200, reset.text
        profile = await profile_of(http, org, kept)
        first = next(i for i in profile["interviews"] if i["interview_id"] == iv)
        old, new = first["attempts"]
        assert (old["attempt"], old["current"], old["state"]) == (1, False, "completed")
        assert old["versions"] == 2 and old["latest"]["decision"] == "hold"
        assert (new["attempt"], new["current"], new["state"], new["versions"]) == (
            2,
            True,
            "invited",
            0,
        )
        erased = await http.post(
            f"/api/hr/interviews/{kept}/erase", json={"confirm": True}, headers=org.auth("admin")
        )
        assert erased.status_code == 200, erased.text
        after = await profile_of(http, org, iv)
        assert [i["interview_id"] for i in after["interviews"]] == [iv]
        assert "profile" not in await store.meta(kept)  # nor its id left in the meta
