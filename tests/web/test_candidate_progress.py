"""The candidate page says where the candidate stands (issue 13 item 5): partly answered
questions in the progress, where a re-entry continues, what an exit closes, a time limit
that ran out, and an empty answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import PHONE, Hub, Org, interview_body
from tests.web.conftest import DESKTOP, new_page, no_js_errors, screenshot
from tests.web.conftest import PHONE as PHONE_SCREEN
from tests.web.test_candidate import create, enter, no_sideways_scroll, saved

# (browser locale, viewport, screenshot suffix): English on a desktop, Chinese on a phone
LANGUAGES = [("en-US", DESKTOP, "desktop"), ("zh-CN", PHONE_SCREEN, "phone-zh")]

WORDS: dict[str, dict[str, str]] = {
    "en-US": {
        "progress": "Progress: 33% (1 of 3 answered, 1 partly answered)",
        "reentry": "This is your last entry. You continue at question 3; "
        "question 2 was saved as you left it.",
        "closes_empty": "Question 2 will be closed with nothing written; "
        "you cannot answer it later.",
        "closes": "Question 2 will be closed: what you wrote is saved as it is now, "
        "and you cannot change it later.",
        "time_up": "Time is up for question 1. Your answer is saved as it was.",
        "skip_title": "Skip this question?",
        "skip": "Your answer to question 1 is empty.",
        "question1": "Question 1 of 3",
        "question2": "Question 2 of 3",
        "reentry_used": "You have used your second entry. Everything you answered is saved. "
        "HR can give you more time or let you start again.",
    },
    "zh-CN": {
        "progress": "进度：33%（已答 1/3 题，部分作答 1 题）",
        "reentry": "这是您最后一次进入。您将从第 3 题继续；第 2 题已按您离开时的内容保存。",
        "closes_empty": "第 2 题将被关闭（尚未作答），之后无法再作答。",
        "closes": "第 2 题将被关闭：已作答的内容按现状保存，之后无法再修改。",
        "time_up": "第 1 题时间已到，您的回答已按原样保存。",
        "skip_title": "跳过这道题吗？",
        "skip": "第 1 题尚未作答。",
        "question1": "第 1 题，共 3 题",
        "question2": "第 2 题，共 3 题",
        "reentry_used": "您已使用过再次进入的机会，已作答的内容均已保存。"
        "HR 可以为您延长时间或安排重新面试。",
    },
}


async def open_page(new_context: Any, locale: str, viewport: dict[str, int]) -> Page:
    phone = viewport == PHONE_SCREEN
    context = await new_context(locale=locale, viewport=viewport, is_mobile=phone, has_touch=phone)
    return await new_page(context)


async def at_the_second_question(
    hub: Hub, org: Org, new_context: Any, locale: str, viewport: dict[str, int]
) -> tuple[dict[str, Any], Page]:
    """A three-question interview (second entry allowed) whose first answer is saved and
    finished, with the second question shown (so what is typed next goes into it)."""
    iv = await create(hub, org, questions=3, second_entry=True)
    page = await open_page(new_context, locale, viewport)
    await enter(page, iv["link"])
    await page.type("#answer", "first", delay=5)
    await saved(page)
    await page.click("#finish")
    await expect(page.locator("#question-number")).to_have_text(WORDS[locale]["question2"])
    return iv, page


async def fits(page: Page, viewport: dict[str, int]) -> None:
    if viewport == PHONE_SCREEN:
        await no_sideways_scroll(page)


@pytest.mark.parametrize(("locale", "viewport", "shot"), LANGUAGES)
async def test_exit_dialog_says_the_current_question_is_closed(
    hub: Hub, org: Org, new_context, locale, viewport, shot
) -> None:
    """The exit confirm names the open question and says it is closed as it is (empty or written)."""
    words = WORDS[locale]
    _, page = await at_the_second_question(hub, org, new_context, locale, viewport)
    await page.click("#exit-open")
    await expect(page.locator("#exit-closes")).to_have_text(words["closes_empty"])
    await page.click("#exit-cancel")
    await page.type("#answer", "half of the second", delay=5)
    await saved(page)
    await page.click("#exit-open")
    await expect(page.locator("#exit-closes")).to_have_text(words["closes"])
    await fits(page, viewport)
    await screenshot(page, f"candidate-exit-closes-{shot}")
    no_js_errors(page)


@pytest.mark.parametrize(("locale", "viewport", "shot"), LANGUAGES)
async def test_reentry_says_where_it_continues_and_counts_the_partly_answered(
    hub: Hub, org: Org, new_context, locale, viewport, shot
) -> None:
    """After an exit, the re-entry says "last entry, question N, question M saved as you left it"; progress counts the partly answered one; after a second exit the centre says the second entry was used (not "not allowed")."""
    words = WORDS[locale]
    iv, first = await at_the_second_question(hub, org, new_context, locale, viewport)
    await first.type("#answer", "half of the second", delay=5)
    await saved(first)
    await first.click("#exit-open")
    await first.click("#exit-confirm")
    await expect(first.locator("#screen-stopped")).to_be_visible()

    again = await open_page(new_context, locale, viewport)
    await again.goto(iv["link"])
    await again.fill("#identity", PHONE)
    await again.click("#verify")
    await again.click("#device-continue")
    await expect(again.locator("#ready-reentry")).to_have_text(words["reentry"])
    await again.click("#interview-start")
    await expect(again.locator("#question-number")).to_contain_text("3")
    note = again.locator("#reentry-note")
    await expect(note).to_have_text(words["reentry"])
    await expect(note).to_be_in_viewport()
    await expect(again.locator("#progress-text")).to_have_text(words["progress"])
    await expect(again.locator("#progress")).to_have_attribute("data-partial", "1")
    partial_width = await again.locator("#progress-partial").evaluate(
        "(bar) => bar.getBoundingClientRect().width"
    )
    assert partial_width > 0  # the partly answered question shows in the bar too
    await expect(again.locator("#progress-text")).to_be_in_viewport()
    await fits(again, viewport)
    await screenshot(again, f"candidate-reentry-{shot}")
    await again.click("#exit-open")
    await again.click("#exit-confirm")
    await again.click("#stopped-centre")
    await expect(again.locator("#centre-summary")).to_have_text(words["reentry_used"])
    no_js_errors(again)


# Every change of the page, as (time-up notice shown, its text, the question on screen).
RECORD_CHANGES = """() => {
  window.__seen = [];
  const look = () => {
    const notice = document.getElementById("time-up");
    window.__seen.push({
      shown: Boolean(notice && !notice.hidden),
      text: document.getElementById("time-up-message")?.textContent || "",
      question: document.getElementById("question-text").textContent,
    });
  };
  new MutationObserver(look).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
}"""


@pytest.mark.parametrize(("locale", "viewport", "shot"), LANGUAGES)
async def test_time_up_is_announced_before_the_next_question(
    hub: Hub, org: Org, new_context, locale, viewport, shot
) -> None:
    """When a time limit runs out, "time is up" is shown (aria-live) over the old question before the next one replaces it."""
    words = WORDS[locale]
    body = interview_body(3)
    body["questions"] = [
        {"text": "Quick one", "time_limit_s": 3},
        {"text": "Untimed"},
        {"text": "Third"},
    ]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
    assert r.status_code == 201, r.text
    page = await open_page(new_context, locale, viewport)
    await enter(page, r.json()["link"])
    await expect(page.locator("#question-text")).to_have_text("Quick one")
    await page.evaluate(RECORD_CHANGES)
    await expect(page.locator("#question-text")).to_have_text("Untimed")
    seen: list[dict[str, Any]] = await page.evaluate("window.__seen")
    moved = next(i for i, s in enumerate(seen) if s["question"] == "Untimed")
    announced = [s for s in seen[:moved] if s["shown"] and s["question"] == "Quick one"]
    assert announced, "the page moved on without saying the time was up"
    assert announced[-1]["text"].startswith(words["time_up"])
    notice = page.locator("#time-up")
    await expect(notice).to_have_attribute("aria-live", "assertive")
    await expect(notice).to_be_hidden()  # gone with the old question
    await expect(page.locator("#answer")).to_be_enabled()
    await fits(page, viewport)
    no_js_errors(page)


@pytest.mark.parametrize(("locale", "viewport", "shot"), LANGUAGES)
async def test_an_empty_answer_asks_before_skipping(
    hub: Hub, org: Org, new_context, locale, viewport, shot
) -> None:
    """ "Next" on an empty answer asks "skip this question?": keep answering stays, skip moves on; a written answer is not asked about."""
    words = WORDS[locale]
    page = await open_page(new_context, locale, viewport)
    await page.goto("/practice")  # nothing recorded: an empty box is an empty answer
    await expect(page.locator("#question-number")).to_have_text(words["question1"])
    await page.click("#finish")
    dialog = page.locator("#skip-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#skip-title")).to_have_text(words["skip_title"])
    await expect(page.locator("#skip-message")).to_contain_text(words["skip"])
    await expect(page.locator("#skip-cancel")).to_be_focused()  # Enter keeps answering
    await fits(page, viewport)
    await screenshot(page, f"candidate-skip-{shot}")
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#question-number")).to_have_text(words["question1"])
    await expect(page.locator("#answer")).to_be_focused()
    await page.click("#finish")
    await page.click("#skip-confirm")
    await expect(page.locator("#question-number")).to_have_text(words["question2"])
    await page.type("#answer", "written", delay=5)
    await saved(page)
    await page.click("#finish")
    await expect(page.locator("#question-text")).to_contain_text("60")  # the third question
    await expect(dialog).to_be_hidden()
    no_js_errors(page)


async def test_the_reentry_note_follows_a_language_switch(hub: Hub, org: Org, new_context) -> None:
    """The re-entry note and the partly answered count are re-rendered when the language changes."""
    iv, first = await at_the_second_question(hub, org, new_context, "en-US", DESKTOP)
    await first.type("#answer", "half", delay=5)
    await saved(first)
    await first.click("#exit-open")
    await first.click("#exit-confirm")
    await expect(first.locator("#screen-stopped")).to_be_visible()
    again = await open_page(new_context, "en-US", DESKTOP)
    await again.goto(iv["link"])
    await again.fill("#identity", PHONE)
    await again.click("#verify")
    await again.click("#device-continue")
    await again.click("#interview-start")
    await expect(again.locator("#reentry-note")).to_have_text(WORDS["en-US"]["reentry"])
    await again.select_option("#lang", "zh-CN")
    await expect(again.locator("#reentry-note")).to_have_text(WORDS["zh-CN"]["reentry"])
    await expect(again.locator("#progress-text")).to_have_text(WORDS["zh-CN"]["progress"])
    no_js_errors(again)
