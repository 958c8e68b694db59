"""Reports' scores: the default rubric on typed answers and transcripts, evidence verbatim, human-only review, one language, the organisation's name and time zone, the PDF."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from client.candidate import CandidateClient
from server.store import Store, key
from tests.conftest import PHONE, Hub, Org, interview_body

STAR = (
    "When I was at my previous company, our team had to migrate the billing system. My task "
    "was to plan the migration. First, I analysed the old code. Then I proposed a staged "
    "rollout, because a big-bang switch was risky. As a result, we reduced downtime by 80% "
    "and saved 200 hours."
)
SETBACK = (
    "The launch slipped by two weeks and my manager was upset with the whole team. I took "
    "responsibility, I learned to plan buffers, and next time I would warn everyone earlier."
)
SPOKEN = (
    "I led a team of five engineers. Because the old system was slow, I designed a cache. "
    "As a result, response times improved by 40 percent within 3 weeks."
)
TRANSCRIPT = {
    "text": SPOKEN,
    "language": "en",
    "segments": [
        {"start_ms": 0, "end_ms": 2500, "text": "I led a team of five engineers.", "words": []},
        {
            "start_ms": 2500,
            "end_ms": 7000,
            "text": "Because the old system was slow, I designed a cache.",
            "words": [],
        },
        {
            "start_ms": 7000,
            "end_ms": 12000,
            "text": "As a result, response times improved by 40 percent within 3 weeks.",
            "words": [],
        },
    ],
    "audio_ms": 12500,
    "speech_ms": 11000,
    "pauses": [{"start_ms": 6900, "end_ms": 7400}],
}


def scored_body() -> dict[str, Any]:
    body = interview_body(3)
    body["questions"] = [
        {
            "text": "Tell me about a migration project you led",
            "expected_points": ["billing migration", "downtime"],
        },
        {"text": "Tell me about a setback and the criticism you got", "pressure": True},
        {"text": "How did you make a slow system faster?"},
    ]
    return body


async def report_version(http: httpx.AsyncClient, iv: str, h: dict, version: int) -> dict:
    # waits on the report, not a clock: the bound (about two minutes) is only a backstop for
    # a loaded machine (an LLM scorer's own timeout may come first)
    for _ in range(1200):
        r = await http.get(
            f"/api/hr/interviews/{iv}/report", params={"version": version}, headers=h
        )
        if r.status_code == 200:
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no report version {version}: {r.text}")


async def answered_interview(
    hub: Hub, org: Org, http: httpx.AsyncClient, store: Store, spoken: bool = True
) -> str:
    """Three answers: two typed, the third given by voice (its transcript saved as the
    transcription worker would); the report made after completion is version 1."""
    created = await http.post("/api/hr/interviews", json=scored_body(), headers=org.auth("admin"))
    assert created.status_code == 201, created.text
    iv = created.json()["interview_id"]
    async with CandidateClient(hub.ws, created.json()["token"], PHONE) as c:
        await c.join()
        await c.send_text(STAR)
        await c.finish()
        await c.send_text(SETBACK)
        await c.finish()
        if spoken:
            assert await store.save_transcript(iv, 1, 2, TRANSCRIPT)
        else:
            await c.send_text(SPOKEN)
        await c.finish()
    await report_version(http, iv, org.auth("admin"), 1)
    return iv


async def test_a_finished_interview_is_scored_with_verbatim_evidence(
    hub: Hub, org: Org, store: Store
) -> None:
    """All three dimensions are scored from typed answers and a transcript; every quote is verbatim at its offsets; spoken quotes carry the segment's time."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store)
        report = await report_version(http, iv, org.auth("admin"), 1)
    scores = report["scores"]
    assert scores["status"] == "scored" and scores["scorer"] == "default"
    assert scores["rubric_version"] and scores["recommendation"]["advisory"] is True
    answers = report["answers"]
    assert [a["kind"] for a in answers] == ["typed", "typed", "spoken"]
    assert answers[0]["expected_points"] == ["billing migration", "downtime"]
    assert answers[1]["pressure"] is True and answers[2]["transcript"]["text"] == SPOKEN
    spoken_quotes = 0
    for name, dimension in scores["dimensions"].items():
        assert dimension["status"] == "scored", (name, dimension)
        assert 0 <= dimension["score"] <= 100 and dimension["band"]
        assert dimension["explanation"]["en"] and dimension["explanation"]["zh-CN"]
        assert dimension["evidence"], name
        for e in dimension["evidence"]:
            answer = answers[e["q"]]
            text = answer["transcript"]["text"] if answer["kind"] == "spoken" else answer["text"]
            assert text[e["start"] : e["end"]] == e["quote"]
            if answer["kind"] == "spoken":
                spoken_quotes += 1
                assert e["t_ms"] in {s["start_ms"] for s in TRANSCRIPT["segments"]}
    assert spoken_quotes
    composure = scores["dimensions"]["emotional_stability"]
    assert composure["answers_used"] == [1]  # the pressure question only
    language = {m["name"]: m for m in scores["dimensions"]["language_expression"]["measures"]}
    assert language["pauses"]["value"] == 1 and language["pauses"]["weight"] == 0


async def test_human_only_review_computes_no_ai_score(hub: Hub, org: Org, store: Store) -> None:
    """A candidate who asked for human-only review gets no AI score; the report says why, and a recorded consent shows as such."""
    h = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store, spoken=False)
        await store.redis.hset(key(iv, "meta"), "review", "human_only")
        made = await http.post(f"/api/hr/interviews/{iv}/report", headers=h)
        report = made.json()
        assert made.status_code == 201 and report["review"] == "human_only"
        assert report["scores"]["status"] == "human_only"
        assert set(report["scores"]["dimensions"].values()) == {None}
        page = await http.get(f"/api/hr/interviews/{iv}/report.html?lang=en", headers=h)
        assert "asked for human-only review" in page.text and "PIPL Art. 24" in page.text
        assert "Evidence (verbatim quotes)" not in page.text
        await store.redis.hset(key(iv, "meta"), "review", "ai")
        made = await http.post(f"/api/hr/interviews/{iv}/report", headers=h)
        assert made.json()["scores"]["status"] == "scored"
        page = await http.get(f"/api/hr/interviews/{iv}/report.html?lang=en", headers=h)
        assert "consented to AI-assisted assessment" in page.text


async def test_the_page_is_in_one_language_with_the_organisations_name_and_time(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """?lang= picks one language (the interview's by default); the organisation's name and zone and local times show; quotes link to the answer and the recording's moment."""
    admin = fresh_org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, fresh_org, http, store)
        profile = await http.put(
            "/api/hr/org",
            json={"display_name": "Acme 招聘中心", "time_zone": "America/New_York"},
            headers=admin,
        )
        assert profile.json() == {
            "org": fresh_org.name,
            "display_name": "Acme 招聘中心",
            "time_zone": "America/New_York",
            "report_auto": True,  # the organisation's default for the automatic report
            "hr_contact": {"name": "", "phone": "", "email": ""},  # none set
        }
        report = await report_version(http, iv, admin, 1)
        zh = (await http.get(f"/api/hr/interviews/{iv}/report.html", headers=admin)).text
        en = (await http.get(f"/api/hr/interviews/{iv}/report.html?lang=en", headers=admin)).text
    assert "语言表达" in zh and "Language expression" not in zh and "已完成" in zh
    assert "Language expression" in en and "语言表达" not in en and "completed" in en
    for page in (zh, en):
        assert "Acme 招聘中心" in page and "America/New_York" in page
        local = datetime.fromtimestamp(report["generated_ms"] / 1000, UTC).astimezone(
            ZoneInfo("America/New_York")
        )
        assert local.strftime("%Y-%m-%d %H:%M:%S") in page
        assert str(report["generated_ms"]) not in page  # no epoch milliseconds
        assert 'href="#answer-0"' in page and 'id="answer-2"' in page
        assert 'href="answers/2/recording.webm#t=' in page
        assert "EU AI Act" in page or "欧盟《人工智能法》" in page
        assert report["scores"]["rubric_version"] in page


async def test_the_report_as_pdf_in_either_language(hub: Hub, org: Org, store: Store) -> None:
    """report.pdf is a PDF in zh-CN (built-in CID font) and in English; an unknown version is 404."""
    h = org.auth("admin")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store)
        for lang in ("zh-CN", "en"):
            pdf = await http.get(f"/api/hr/interviews/{iv}/report.pdf?lang={lang}", headers=h)
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 2000
            assert "attachment" in pdf.headers["content-disposition"]
        assert b"STSong-Light" in pdf.content
        missing = await http.get(f"/api/hr/interviews/{iv}/report.pdf?version=9", headers=h)
        assert missing.status_code == 404
        denied = await http.get(f"/api/hr/interviews/{iv}/report.pdf")
        assert denied.status_code == 401


async def test_bad_expected_points_or_pressure_are_refused_with_the_field(
    hub: Hub, org: Org
) -> None:
    """expected_points must be a short list of phrases and pressure a boolean; anything else is bad_field naming it."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        for question, field in (
            ({"text": "Q", "expected_points": "teamwork"}, "expected_points"),
            ({"text": "Q", "expected_points": ["x" * 201]}, "expected_points"),
            ({"text": "Q", "expected_points": ["a"] * 11}, "expected_points"),
            ({"text": "Q", "pressure": "yes"}, "pressure"),
        ):
            body = {**interview_body(1), "questions": [question]}
            r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
            assert r.status_code == 400, r.text
            assert r.json()["reason"].startswith("bad_field") and field in r.json()["reason"]


async def test_the_automatic_report_switch_per_organisation_and_per_interview(
    hub: Hub, fresh_org: Org
) -> None:
    """The organisation's default applies when a spec does not say; a spec's own policy wins; HR switches one interview on, and its completion then makes the report (logged)."""
    admin, lead = fresh_org.auth("admin"), fresh_org.auth("interview_lead")
    async with httpx.AsyncClient(base_url=hub.http) as http:
        off = await http.put("/api/hr/org", json={"report_auto": False}, headers=admin)
        assert off.status_code == 200 and off.json()["report_auto"] is False
        plain = (await http.post("/api/hr/interviews", json=interview_body(1), headers=lead)).json()
        explicit = (
            await http.post(
                "/api/hr/interviews", json=interview_body(1, report_auto=True), headers=lead
            )
        ).json()

        async def auto(iv: str) -> bool:
            return (await http.get(f"/api/hr/interviews/{iv}", headers=lead)).json()["report_auto"]

        assert await auto(plain["interview_id"]) is False
        assert await auto(explicit["interview_id"]) is True
        iv = plain["interview_id"]
        denied = await http.put(
            f"/api/hr/interviews/{iv}/report_auto",
            json={"on": True},
            headers=fresh_org.auth("recruiter"),
        )
        assert denied.status_code == 403
        switched = await http.put(
            f"/api/hr/interviews/{iv}/report_auto", json={"on": True}, headers=lead
        )
        assert switched.json() == {"interview_id": iv, "report_auto": True}
        assert await auto(iv) is True
        async with CandidateClient(hub.ws, plain["token"], PHONE) as c:
            await c.join()
            await c.finish()
        report = await report_version(http, iv, lead, 1)
        assert report["trigger"] == "completed"
        log = (
            await http.get(
                f"/api/hr/interviews/{iv}/log", params={"action": "report_auto_set"}, headers=admin
            )
        ).json()["entries"]
        assert [(e["outcome"], e["detail"]["on"]) for e in log if e["outcome"] == "ok"] == [
            ("ok", True)
        ]
