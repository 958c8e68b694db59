"""The HR console's actions where HR looks, permissions shown before a form, and words, not
codes (issue 13, items 9, 10 and 15): real hub, real Redis, Debian's Chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from client.candidate import CandidateClient
from tests.conftest import PHONE, Hub, Org, interview_body
from tests.web.conftest import PHONE as PHONE_SIZE
from tests.web.conftest import new_page, no_js_errors, screenshot
from tests.web.test_console import REFUSALS, T, api, create, interview, login, open_detail

# what no page of the console may show: codes where words belong
RAW = ("interview.end", "interview.reentry.grant", "recruiting_manager", "interview_lead")
ASK = {
    "en": "Ask an administrator; roles that can: Administrator, Recruiting manager, Interview lead.",
    "zh-CN": "请联系管理员；拥有此权限的角色：管理员、招聘经理、面试负责人。",
}


def row(page: Page, iv: str) -> Any:
    return page.locator(f'[data-testid="iv-row"][data-id="{iv}"]')


async def no_raw_codes(page: Page, org: Org) -> None:
    text = await page.locator("body").inner_text()
    for user in org.users.values():  # the fixtures' user names hold their role's code
        text = text.replace(user, "")
    assert not [code for code in RAW if code in text], text


@pytest.mark.parametrize("locale,lang", [("en-US", "en"), ("zh-CN", "zh-CN")])
async def test_end_from_the_list_row_then_it_says_who_and_when(
    hub: Hub, new_context: Any, org: Org, locale: str, lang: str
) -> None:
    """A row's "end" ends the interview; then the row's and the detail's end are disabled and say who ended it and when, and no second entry is offered."""
    iv = (await create(hub, org, second_entry=True))["interview_id"]
    page = await login(new_context, org, "admin", locale=locale)
    end = row(page, iv).locator('[data-testid="row-end"]')
    await expect(end).to_be_enabled(timeout=T)
    await end.click()
    await expect(page.locator("#end-dialog")).to_be_visible()
    await page.click("#end-confirm")
    await expect(row(page, iv).locator('[data-field="state"]')).to_have_attribute(
        "data-state", "ended", timeout=T
    )
    user = org.users["admin"]
    said = re.compile(f"Ended by {user} at " if lang == "en" else f"已由 {user} 于 .+ 终止")
    await expect(end).to_be_disabled(timeout=T)
    await expect(end).to_have_text(said, timeout=T)
    await expect(row(page, iv).locator('[data-testid="row-reentry"]')).to_be_hidden()
    assert (await interview(hub, org, iv))["ended_by"] == user

    await open_detail(page, iv)
    await expect(page.locator("#end-open")).to_be_disabled(timeout=T)
    await expect(page.locator("#end-open")).to_have_text(said)
    second = page.locator("#detail-second-entry")
    await expect(second).to_have_attribute("data-allowed", "false")
    over = "not possible: the interview was ended" if lang == "en" else "不可用：面试已终止"
    await expect(second).to_have_text(over)
    await expect(page.locator("#reentry-grant")).to_be_disabled()
    # the language switch words it again
    other = "zh-CN" if lang == "en" else "en"
    await page.select_option("#lang-select", other)
    again = f"Ended by {user} at " if other == "en" else f"已由 {user} 于"
    await expect(page.locator("#end-open")).to_contain_text(again)
    no_js_errors(page, REFUSALS)


async def test_a_row_grants_a_second_entry(hub: Hub, new_context: Any, org: Org) -> None:
    """An ongoing row's "grant second entry" gives the candidate a second entry, without opening the interview."""
    created = await create(hub, org, second_entry=False)
    iv = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as candidate:
        await candidate.join()
        page = await login(new_context, org, "admin")
        await expect(row(page, iv).locator('[data-field="state"]')).to_have_attribute(
            "data-state", "in_progress", timeout=T
        )
        grant = row(page, iv).locator('[data-testid="row-reentry"]')
        await expect(grant).to_be_visible()
        await grant.click()
        await expect(page.locator("#action-done")).to_be_visible(timeout=T)
        await expect(page.locator("#list-view")).to_be_visible()  # it stayed on the list
        assert (await interview(hub, org, iv))["second_entry"] is True
    no_js_errors(page, REFUSALS)


async def test_the_detail_actions_stay_in_reach_on_a_phone(
    hub: Hub, new_context: Any, org: Org
) -> None:
    """On a 390x844 phone the detail's end and second-entry buttons are in view without scrolling, and still after scrolling to the bottom."""
    iv = (await create(hub, org, questions=6))["interview_id"]
    page = await login(new_context, org, "admin", locale="zh-CN", viewport=PHONE_SIZE)
    await open_detail(page, iv)
    await expect(page.locator("#detail-state")).to_have_attribute("data-state", "invited")
    for button in ("#end-open", "#reentry-grant"):
        await expect(page.locator(button)).to_be_in_viewport(timeout=T)
    await screenshot(page, "console-phone-action-bar")
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    await page.wait_for_function("window.scrollY > 0")
    await expect(page.locator("#end-open")).to_be_in_viewport(timeout=T)
    await page.click("#end-open")
    await expect(page.locator("#end-dialog")).to_be_visible()
    no_js_errors(page, REFUSALS)


@pytest.mark.parametrize("locale,lang", [("en-US", "en"), ("zh-CN", "zh-CN")])
async def test_a_recruiter_sees_what_needs_another_role_before_any_form(
    hub: Hub, new_context: Any, org: Org, locale: str, lang: str
) -> None:
    """A recruiter's end, second entry, reset and create are disabled up front, each with the roles that can, in words, and no permission code shows."""
    created = await create(hub, org)
    iv = created["interview_id"]
    page = await login(new_context, org, "recruiter", locale=locale)
    await expect(row(page, iv).locator('[data-testid="row-end"]')).to_be_disabled(timeout=T)
    await expect(page.locator("#list-perm-note")).to_contain_text(ASK[lang])
    await expect(page.locator("#create-open")).to_be_disabled()
    await expect(page.locator("#create-open-perm")).to_be_visible()
    await open_detail(page, iv)
    await expect(page.locator("#end-open")).to_be_disabled(timeout=T)
    await expect(page.locator("#end-open-perm")).to_have_text(ASK[lang])
    await expect(page.locator("#reentry-grant")).to_be_disabled()
    await expect(page.locator("#reentry-grant-perm")).to_have_text(ASK[lang])
    await expect(page.locator("#reset-open")).to_be_disabled()
    await expect(page.locator("#reset-open-perm")).to_contain_text(
        "Recruiting manager" if lang == "en" else "招聘经理"
    )
    await expect(page.locator("#end-dialog")).to_be_hidden()
    await no_raw_codes(page, org)
    assert (await interview(hub, org, iv))["state"] == "invited"
    no_js_errors(page, REFUSALS)


async def test_a_refusal_for_a_permission_taken_away_is_in_words(
    hub: Hub, new_context: Any, fresh_org: Org
) -> None:
    """A permission taken away while the page was open: the refusal names it and the roles that can in words (no code), and the button turns unavailable."""
    iv = (await create(hub, fresh_org))["interview_id"]
    page = await login(new_context, fresh_org, "interview_lead", locale="zh-CN")
    await open_detail(page, iv)
    await expect(page.locator("#end-open")).to_be_enabled(timeout=T)
    roles = await api(hub, fresh_org, "admin", "GET", "/api/hr/roles")
    kept = [p for p in roles["roles"]["interview_lead"] if p != "interview.end"]
    await api(
        hub, fresh_org, "admin", "PUT", "/api/hr/roles/interview_lead", json={"permissions": kept}
    )
    await page.click("#end-open")
    await page.click("#end-confirm")
    error = page.locator("#action-error")
    await expect(error).to_have_attribute(
        "data-reason", "permission_denied:interview.end", timeout=T
    )
    await expect(error).to_have_text(
        "您没有“终止面试”权限。请联系管理员；拥有此权限的角色：管理员、招聘经理。"
    )
    await expect(page.locator("#end-open")).to_be_disabled(timeout=T)
    await expect(page.locator("#end-open-perm")).to_have_text(
        "请联系管理员；拥有此权限的角色：管理员、招聘经理。"
    )
    # the log says the refusal in words too
    await page.click("#log-open")
    refused = page.locator('#log-table tbody tr[data-outcome="permission_denied:interview.end"]')
    await expect(refused.locator("td").nth(4)).to_have_text("被拒绝：没有“终止面试”权限", timeout=T)
    await no_raw_codes(page, fresh_org)
    assert (await interview(hub, fresh_org, iv))["state"] == "invited"
    no_js_errors(page, REFUSALS)


async def test_the_role_editor_works_on_a_phone(hub: Hub, new_context: Any, fresh_org: Org) -> None:
    """At 390 px the role editor needs no sideways scroll: each box shows its permission in words and a tap on the words sets it."""
    page = await login(new_context, fresh_org, "admin", locale="zh-CN", viewport=PHONE_SIZE)
    await page.click("#nav-roles")
    box = page.locator('input[data-role="recruiter"][data-perm="interview.end"]')
    await expect(box).not_to_be_checked(timeout=T)
    words = page.locator('tr[data-role="recruiter"] label.matrix-cell', has=box)
    await expect(words).to_have_text("终止面试")
    await words.scroll_into_view_if_needed()
    await expect(words).to_be_in_viewport()
    scroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert await page.evaluate(scroll)
    table_fits = (
        "(() => { const t = document.querySelector('#roles-table table');"
        " return t.scrollWidth <= t.parentElement.clientWidth; })()"
    )
    assert await page.evaluate(table_fits)
    await words.click()
    await expect(box).to_be_checked()
    await page.click("#role-save-recruiter")
    await expect(page.locator("#action-done")).to_be_visible(timeout=T)
    roles = await api(hub, fresh_org, "admin", "GET", "/api/hr/roles")
    assert "interview.end" in roles["roles"]["recruiter"]
    await screenshot(page, "console-phone-roles")
    await no_raw_codes(page, fresh_org)
    no_js_errors(page, REFUSALS)


@pytest.mark.parametrize("locale,lang", [("en-US", "en"), ("zh-CN", "zh-CN")])
async def test_device_interruptions_attempt_time_limit_and_roles_read_as_words(
    hub: Hub, new_context: Any, org: Org, locale: str, lang: str
) -> None:
    """The device kind, interruptions, the attempt, a question's time limit and the log's roles are in the page's language, never codes or the candidate's words."""
    body = interview_body(2)
    body["questions"] = [{"text": "Q1", "time_limit_s": 120}, "Q2"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
        created = r.json()
    iv = created["interview_id"]
    # the candidate's page wrote its device kind in Chinese; an English reader reads English
    async with CandidateClient(hub.ws, created["token"], PHONE, device="Chrome · Linux 电脑") as c:
        await c.join()
        page = await login(new_context, org, "admin", locale=locale)
        device = row(page, iv).locator('[data-field="device"]')
        kind = "computer" if lang == "en" else "电脑"
        await expect(device).to_have_text(f"Chrome · Linux {kind}", timeout=T)
        intr = row(page, iv).locator('[data-field="interruptions"]')
        await expect(intr).to_have_text("none" if lang == "en" else "无")
        await open_detail(page, iv)
        heading = page.locator('[data-testid="answer"][data-q="0"] h4')
        limit = (
            "Question 1: Q1 (time limit: 2 min)" if lang == "en" else "第 1 题：Q1（限时 2 分钟）"
        )
        await expect(heading).to_have_text(limit, timeout=T)
        first = "first attempt, never reset" if lang == "en" else "第 1 轮，未重置过"
        await expect(page.locator("#detail-attempt")).to_have_text(first)
    await expect(page.locator("#detail-interruptions")).to_have_text(
        "1 disconnect" if lang == "en" else "断线 1 次", timeout=T
    )
    await page.click("#log-open")
    admin_row = page.locator("#log-table tbody tr", has_text=org.users["admin"]).first
    await expect(admin_row).to_contain_text(
        "Administrator" if lang == "en" else "管理员", timeout=T
    )
    await expect(admin_row.locator("td").nth(2)).not_to_have_text("admin")
    await expect(admin_row.locator("td").nth(4)).to_have_text("done" if lang == "en" else "成功")
    await no_raw_codes(page, org)
    no_js_errors(page, REFUSALS)


async def test_the_site_root_is_the_candidate_page(hub: Hub, new_context: Any) -> None:
    """/ opens the candidate page (which asks for the invitation link), not the HR login; HR keeps /hr."""
    context = await new_context(locale="zh-CN")
    page = await new_page(context)
    await page.goto("/")
    await expect(page.locator("#identity-error")).to_have_text(
        "请使用邀请中的面试链接（…/i/…）打开本页面。", timeout=T
    )
    assert page.url.rstrip("/") == hub.http.rstrip("/")
    await expect(page.locator("#login-user")).to_have_count(0)
    await page.goto("/hr")
    await expect(page.locator("#login-user")).to_be_visible(timeout=T)
    no_js_errors(page)
