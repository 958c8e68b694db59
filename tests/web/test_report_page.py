"""The report page in Chromium: readable on a 390 px phone without horizontal scrolling, printable, no script."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.async_api import expect

from server.store import Store, key, snapshot_from_hash
from tests.conftest import PHONE, Hub, Org
from tests.server.test_reports_scoring import answered_interview
from tests.web.conftest import PHONE as PHONE_SIZE
from tests.web.conftest import new_page, no_js_errors, screenshot
from tests.web.test_console import login

T = 10_000  # ms: the longest any expectation waits
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


async def test_report_page_fits_a_phone_and_prints(
    hub: Hub, new_context: Any, org: Org, store: Store
) -> None:
    """At 390 px the scored report (long quotes, tables, transcript) has no horizontal scroll, in both languages and in print."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, org, http, store)
    context = await new_context(
        locale="zh-CN",
        viewport=PHONE_SIZE,
        is_mobile=True,
        extra_http_headers={"Authorization": f"Bearer {org.tokens['admin']}"},
    )
    page = await new_page(context)
    for lang, heading in (("zh-CN", "语言表达"), ("en", "Language expression")):
        await page.goto(f"/api/hr/interviews/{iv}/report.html?lang={lang}")
        await expect(page.locator(".dimension strong").first).to_have_text(heading, timeout=T)
        assert await page.evaluate("document.documentElement.lang") == lang
        assert await page.evaluate("document.documentElement.clientWidth") <= 390
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await screenshot(page, f"report-phone-{lang}")
    await page.emulate_media(media="print")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    assert await page.locator(".noprint").first.is_hidden()
    await page.emulate_media(media="screen")
    # a quote's link goes to its answer on the page
    await page.locator(".dimension blockquote a[href^='#answer-']").first.click()
    assert (await page.evaluate("location.hash")).startswith("#answer-")
    no_js_errors(page)


async def test_the_create_dialog_takes_expected_points_and_pressure(
    hub: Hub, new_context: Any, org: Org, store: Store
) -> None:
    """A question line's "| pressure" and "| points: a; b" (or 压力题 / 要点：) reach the interview spec; a plain line stays plain."""
    page = await login(new_context, org, "admin", locale="zh-CN")
    await page.click("#create-open")
    await page.fill("#create-name", "Form Candidate")
    await page.fill("#create-phone", PHONE)
    await page.fill("#create-position", "Form Position")
    await page.fill(
        "#create-questions",
        "Tell us about a failure | 120 | pressure | points: ownership; lesson\n"
        "讲一次被批评的经历 | 压力题 | 要点：担当；反思\n"
        "Plain question\n",
    )
    await page.click("#create-submit")
    await expect(page.locator("#create-dialog")).to_be_hidden(timeout=T)
    new_id = await page.locator("#action-done").get_attribute("data-interview-id")
    meta = await store.meta(new_id)
    assert json.loads(meta["questions"]) == [
        "Tell us about a failure",
        "讲一次被批评的经历",
        "Plain question",
    ]
    assert json.loads(meta["question_rubric"]) == [
        {"expected_points": ["ownership", "lesson"], "pressure": True},
        {"expected_points": ["担当", "反思"], "pressure": True},
        {"expected_points": [], "pressure": False},
    ]
    assert snapshot_from_hash(meta).time_limits_s == (120, 0, 0)
    no_js_errors(page)


async def test_a_person_reviews_and_compares_in_the_console(
    hub: Hub, new_context: Any, fresh_org: Org, store: Store
) -> None:
    """In the console a lead overrides a score with a reason, records a decision and switches the automatic report off; the comparison shows both beside the machine score; an admin sets the name, time zone, report default and HR contact."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        iv = await answered_interview(hub, fresh_org, http, store)
    page = await login(new_context, fresh_org, "interview_lead", locale="en-US")
    await page.goto(f"/hr#iv/{iv}")
    await expect(page.locator("#review-box")).to_be_visible(timeout=T)
    await page.select_option("#review-dimension", "emotional_stability")
    await page.fill("#review-score", "35")
    await page.click("#review-save")  # no reason: refused on the page, nothing sent
    await expect(page.locator("#action-error")).to_contain_text("reason", timeout=T)
    await page.fill("#review-reason", "Blamed the team in the follow-up")
    await page.click("#review-save")
    await expect(page.locator("#action-done")).to_contain_text("version 2", timeout=T)
    await page.select_option("#decision-value", "advance")
    await page.fill("#decision-comment", "Strong overall")
    await page.click("#decision-save")
    await expect(page.locator("#action-done")).to_contain_text("version 3", timeout=T)
    await expect(
        page.locator('#report-versions li[data-version="3"] a[data-format="pdf"]')
    ).to_have_count(1)
    await page.uncheck("#report-auto")  # this interview: no automatic report from now on
    await expect(page.locator("#action-done")).to_contain_text("No automatic report", timeout=T)
    await page.click("#compare-position")
    row = page.locator(f'#compare-table tr[data-testid="compare-row"][data-id="{iv}"]')
    await expect(row).to_be_visible(timeout=T)
    await expect(row).to_contain_text("35 person")
    await expect(row).to_contain_text("machine")
    await expect(row.locator('[data-field="decision"]')).to_have_text("Advance")
    await page.select_option("#compare-decision", "reject")
    await expect(row).to_have_count(0, timeout=T)
    await expect(page.locator("#compare-empty")).to_be_visible()
    no_js_errors(page)

    admin = await login(new_context, fresh_org, "admin", locale="en-US")
    await admin.goto("/hr#roles")
    await expect(admin.locator("#org-profile-form")).to_be_visible(timeout=T)
    await admin.fill("#org-display-name", "Acme Hiring")
    await admin.fill("#org-time-zone", "Europe/Berlin")
    await admin.uncheck("#org-report-auto")
    await admin.fill("#org-contact-name", "Hiring team")
    await admin.fill("#org-contact-phone", "+49 30 1234567")
    await admin.fill("#org-contact-email", "jobs@acme.example")
    await admin.click("#org-profile-save")
    await expect(admin.locator("#action-done")).to_have_text("Saved.", timeout=T)
    async with httpx.AsyncClient(base_url=hub.http) as http:
        profile = await http.get("/api/hr/org", headers=fresh_org.auth("recruiter"))
    assert profile.json()["display_name"] == "Acme Hiring"
    assert profile.json()["time_zone"] == "Europe/Berlin"
    assert profile.json()["report_auto"] is False
    assert profile.json()["hr_contact"] == {
        "name": "Hiring team",
        "phone": "+49 30 1234567",
        "email": "jobs@acme.example",
    }
    assert (await store.redis.hget(key(iv, "meta"), "report_auto")) == "0"
    no_js_errors(admin)
