"""Reports: made on completion and on end (switch on), on demand in versions, facts first, thin answers never scored low."""

from __future__ import annotations

import asyncio

import httpx

from client.candidate import CandidateClient
from tests.conftest import PHONE, Hub, Org, interview_body


async def wait_report(http: httpx.AsyncClient, iv: str, headers: dict, version: int = 1) -> dict:
    for _ in range(100):
        r = await http.get(
            f"/api/hr/interviews/{iv}/report", params={"version": version}, headers=headers
        )
        if r.status_code == 200:
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no report version {version}: {r.text}")


async def test_report_on_end_has_the_facts_and_no_made_up_scores(hub: Hub, org: Org) -> None:
    """An ended interview gets a report: who ended it, progress, answers with times, partial marked, history; too little said is insufficient data."""
    h = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (await http.post("/api/hr/interviews", json=interview_body(3), headers=h)).json()
        iv = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            await c.send_text("My first answer.")
            await c.finish()
            await c.send_text("Half of the second")
            await c.wait_acked()
            await http.post(
                f"/api/hr/interviews/{iv}/end",
                json={"confirm": True},
                headers=org.auth("interview_lead"),
            )
        report = await wait_report(http, iv, h)
        assert report["version"] == 1 and report["trigger"] == "ended"
        assert report["state"] == "ended" and report["caused_by"] == org.users["interview_lead"]
        assert report["progress"] == {"answered": 1, "partial": 1, "total": 3, "percent": 33}
        first, second, third = report["answers"]
        assert first["text"] == "My first answer." and first["status"] == "answered"
        assert first["ended_ms"] >= first["started_ms"] > 0 and first["duration_s"] is not None
        assert second["partial"] is True and second["text"] == "Half of the second"
        assert third["status"] == "not_reached"
        kinds = [e["kind"] for e in report["interruptions"]["history"]]
        assert "joined" in kinds and "ended" in kinds
        assert report["scores"]["status"] == "insufficient_data"
        assert report["scores"]["scorer"] == "default" and report["scores"]["rubric_version"]
        log = (
            await http.get(f"/api/hr/interviews/{iv}/log", params={"action": "report"}, headers=h)
        ).json()["entries"]
        assert [(e["actor"], e["detail"]["trigger"]) for e in log] == [("system", "ended")]
        dimensions = report["scores"]["dimensions"].values()
        assert {d["score"] for d in dimensions} == {None}  # no invented numbers
        assert {d["status"] for d in dimensions} == {"insufficient_data"}
        html = await http.get(f"/api/hr/interviews/{iv}/report.html", headers=h)
        assert (
            html.status_code == 200
            and "My first answer." in html.text
            and "数据不足" in html.text  # the interview's language is zh-CN
        )


async def test_report_on_completion_and_on_demand_versions(hub: Hub, org: Org) -> None:
    """Completion makes version 1; generating again makes version 2; both stay readable."""
    h = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (await http.post("/api/hr/interviews", json=interview_body(1), headers=h)).json()
        iv = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            await c.send_text("<script>alert(1)</script>")
            await c.finish()
        first = await wait_report(http, iv, h)
        assert first["trigger"] == "completed" and first["state"] == "completed"
        again = await http.post(
            f"/api/hr/interviews/{iv}/report", headers=org.auth("interview_lead")
        )
        assert again.status_code == 201 and again.json()["version"] == 2
        assert (await wait_report(http, iv, h, version=1))["version"] == 1
        denied = await http.post(f"/api/hr/interviews/{iv}/report", headers=org.auth("recruiter"))
        assert (
            denied.status_code == 403
            and denied.json()["reason"] == "permission_denied:report.generate"
        )
        html = (await http.get(f"/api/hr/interviews/{iv}/report.html", headers=h)).text
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html  # escaped


async def test_report_switch_off_means_on_demand_only(hub: Hub, org: Org) -> None:
    """With the report switch off, completion makes no report until HR asks for one."""
    h = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        created = (
            await http.post(
                "/api/hr/interviews", json=interview_body(1, report_auto=False), headers=h
            )
        ).json()
        iv = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], PHONE) as c:
            await c.join()
            await c.finish()
        await asyncio.sleep(0.5)
        assert (await http.get(f"/api/hr/interviews/{iv}/report", headers=h)).status_code == 404
        made = await http.post(f"/api/hr/interviews/{iv}/report", headers=h)
        assert made.status_code == 201 and made.json()["trigger"] == "on_demand"
