"""HR review: a person's override with a reason beside the machine score, a person's decision, both logged as new report versions; a position's candidates side by side."""

from __future__ import annotations

import httpx

from client.candidate import CandidateClient
from server.store import Store, key
from tests.conftest import PHONE, Hub, Org, interview_body
from tests.server.test_reports_scoring import answered_interview, report_version


async def test_an_override_keeps_the_machine_score_beside_it_and_is_logged(
    hub: Hub, org: Org, store: Store
) -> None:
    """An override needs a reason; it makes a new version with the machine score untouched beside it, stays in later versions, and is logged with its reason."""
    lead = org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store)
        first = await report_version(http, iv, lead, 1)
        machine = first["scores"]["dimensions"]["logical_thinking"]["score"]
        path = f"/api/hr/interviews/{iv}/report/override"
        body = {"dimension": "logical_thinking", "score": 91, "reason": "Clear design reasoning"}
        for bad in (
            {**body, "reason": ""},
            {**body, "reason": "   "},
            {k: v for k, v in body.items() if k != "reason"},
            {**body, "score": 101},
            {**body, "dimension": "charisma"},
        ):
            refused = await http.post(path, json=bad, headers=lead)
            assert refused.status_code == 400, refused.text
            assert refused.json()["reason"].startswith("bad_field")
        denied = await http.post(path, json=body, headers=org.auth("recruiter"))
        assert denied.json()["reason"] == "permission_denied:report.generate"
        made = await http.post(path, json=body, headers=lead)
        assert made.status_code == 201, made.text
        report = made.json()
        assert report["version"] == 2 and report["trigger"] == "review"
        assert report["scores"]["dimensions"]["logical_thinking"]["score"] == machine
        override = report["hr_review"]["overrides"]["logical_thinking"]
        assert override["score"] == 91 and override["machine_score"] == machine
        assert override["reason"] == "Clear design reasoning"
        assert override["by"] == org.users["interview_lead"]
        again = await http.post(f"/api/hr/interviews/{iv}/report", headers=lead)
        assert again.json()["hr_review"]["overrides"]["logical_thinking"]["score"] == 91
        log = (
            await http.get(
                f"/api/hr/interviews/{iv}/log",
                params={"action": "report_override"},
                headers=org.auth("admin"),
            )
        ).json()["entries"]
        assert [(e["outcome"], e["actor"]) for e in log] == [
            ("permission_denied:report.generate", org.users["recruiter"]),  # logged too
            ("ok", org.users["interview_lead"]),
        ]
        done = log[1]["detail"]
        assert done["note"] == "Clear design reasoning"
        assert done["machine_score"] == machine and done["version"] == 2
        page = await http.get(f"/api/hr/interviews/{iv}/report.html?lang=en", headers=lead)
        assert "Person&#39;s score" in page.text and "Clear design reasoning" in page.text


async def test_a_decision_is_a_persons_logged_with_the_comment(
    hub: Hub, org: Org, store: Store
) -> None:
    """advance/hold/reject with a comment makes a new version naming the person; other values are refused; nothing decides without a person."""
    lead = org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store)
        first = await report_version(http, iv, lead, 1)
        assert first["hr_review"] == {"overrides": {}, "decision": None}  # none by itself
        path = f"/api/hr/interviews/{iv}/report/decision"
        refused = await http.post(path, json={"decision": "fire"}, headers=lead)
        assert refused.status_code == 400 and refused.json()["reason"].startswith("bad_field")
        made = await http.post(
            path, json={"decision": "hold", "comment": "Second interview first"}, headers=lead
        )
        assert made.status_code == 201
        decision = made.json()["hr_review"]["decision"]
        assert decision["decision"] == "hold" and decision["by"] == org.users["interview_lead"]
        log = (
            await http.get(
                f"/api/hr/interviews/{iv}/log",
                params={"action": "report_decision"},
                headers=org.auth("admin"),
            )
        ).json()["entries"]
        assert [(e["detail"]["decision"], e["detail"]["note"]) for e in log] == [
            ("hold", "Second interview first")
        ]
        zh = await http.get(f"/api/hr/interviews/{iv}/report.html", headers=lead)
        assert "待定" in zh.text and "Second interview first" in zh.text


async def test_no_review_before_there_is_a_report(hub: Hub, org: Org) -> None:
    """An interview without a report has nothing to review: not_found."""
    lead = org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = await http.post("/api/hr/interviews", json=interview_body(1), headers=lead)
        iv = created.json()["interview_id"]
        r = await http.post(
            f"/api/hr/interviews/{iv}/report/decision", json={"decision": "hold"}, headers=lead
        )
        assert r.status_code == 404 and r.json()["reason"] == "not_found"


async def test_a_positions_candidates_side_by_side(hub: Hub, fresh_org: Org, store: Store) -> None:
    """Compare lists a position's candidates with machine and override scores, sorts by a dimension or overall, and filters by state and decision."""
    lead = fresh_org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        strong = await answered_interview(hub, fresh_org, http, store)
        thin_body = interview_body(3)  # same position ("Analyst"), thin answers
        created = await http.post("/api/hr/interviews", json=thin_body, headers=lead)
        thin = created.json()["interview_id"]
        async with CandidateClient(hub.ws, created.json()["token"], PHONE) as c:
            await c.join()
            await c.send_text("Yes.")
            await c.finish()
        other = {**interview_body(1), "position": "Designer"}
        await http.post("/api/hr/interviews", json=other, headers=lead)
        await http.post(
            f"/api/hr/interviews/{strong}/report/override",
            json={"dimension": "emotional_stability", "score": 40, "reason": "Deflected blame"},
            headers=lead,
        )
        await http.post(
            f"/api/hr/interviews/{strong}/report/decision",
            json={"decision": "advance"},
            headers=lead,
        )

        async def compare(**params: str) -> list[dict]:
            r = await http.get(
                "/api/hr/compare", params={"position": "Analyst", **params}, headers=lead
            )
            assert r.status_code == 200, r.text
            return r.json()["candidates"]

        rows = await compare(sort="overall")
        assert [r["interview_id"] for r in rows] == [strong, thin]  # unscored last
        top = rows[0]
        assert top["dimensions"]["emotional_stability"]["override"] == 40
        assert top["dimensions"]["emotional_stability"]["machine"] > 40
        assert top["effective"]["emotional_stability"] == 40
        assert top["dimensions"]["logical_thinking"]["quote"]
        assert top["decision"]["decision"] == "advance" and top["recommendation"]
        assert rows[1]["state"] == "in_progress" and rows[1]["scores_status"] == "no_report"
        assert [r["interview_id"] for r in await compare(decision="advance")] == [strong]
        assert [r["interview_id"] for r in await compare(decision="none")] == [thin]
        assert [r["interview_id"] for r in await compare(state="completed")] == [strong]
        other_org = await http.get(
            "/api/hr/compare", params={"position": "Analyst"}, headers=fresh_org.auth("recruiter")
        )
        assert other_org.status_code == 200  # viewing is interview.view


async def test_a_review_belongs_to_its_attempt_and_goes_with_an_erasure(
    hub: Hub, org: Org, store: Store
) -> None:
    """A reset's new attempt starts without the old overrides (kept with the old attempt); an erasure removes the review."""
    lead, admin = org.auth("interview_lead"), org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store)
        override = {"dimension": "language_expression", "score": 50, "reason": "Too terse"}
        made = await http.post(
            f"/api/hr/interviews/{iv}/report/override", json=override, headers=lead
        )
        assert made.status_code == 201
        assert await store.redis.exists(key(iv, "review"))
        reset = await http.post(
            f"/api/hr/interviews/{iv}/reset", json={"confirm": True}, headers=admin
        )
        assert reset.status_code == 200, reset.text
        assert await store.redis.exists(key(iv, "a1:review"))  # kept with attempt 1
        assert not await store.redis.exists(key(iv, "review"))
        ended = await http.post(
            f"/api/hr/interviews/{iv}/end", json={"confirm": True}, headers=admin
        )
        assert ended.status_code == 200, ended.text
        erased = await http.post(
            f"/api/hr/interviews/{iv}/erase", json={"confirm": True}, headers=admin
        )
        assert erased.status_code == 200, erased.text
        assert not await store.redis.exists(key(iv, "a1:review"), key(iv, "review"))
