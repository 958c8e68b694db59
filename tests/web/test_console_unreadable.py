"""The HR console in a real browser with one record that does not open: the name and the
answer show an "unreadable" marker in the page's language; everything else is shown."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from client.candidate import CandidateClient
from server.store import Store, key
from tests.conftest import PHONE, Hub, Org
from tests.server.test_unreadable import spoil_chunk, spoiled
from tests.web.conftest import no_js_errors
from tests.web.test_console import REFUSALS, T, answer_text, create, login, open_detail


@pytest.mark.parametrize(
    ("locale", "name", "note"),
    [
        ("en-US", "[unreadable]", "1 part(s) of this answer cannot be read"),
        ("zh-CN", "[无法读取]", "此回答有 1 段无法读取"),
    ],
)
async def test_console_marks_unreadable_records_and_shows_the_rest(
    hub: Hub, new_context: Any, fresh_org: Org, store: Store, locale: str, name: str, note: str
) -> None:
    """A name and an answer chunk that do not open are shown as unreadable (in English and in Chinese) in the list and the detail; the position, the state and the rest of the answer are shown."""
    created = await create(hub, fresh_org)
    iv = created["interview_id"]
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        for part in ("one ", "two ", "three"):
            await c.send_text(part)
        await c.wait_acked()
    await spoil_chunk(store, iv, 1)
    meta = key(iv, "meta")
    await store.redis.hset(meta, "candidate", spoiled(await store.redis.hget(meta, "candidate")))

    page = await login(new_context, fresh_org, "recruiter", locale=locale)
    row = page.locator(f'[data-testid="iv-row"][data-id="{iv}"]')
    await expect(row.locator('[data-testid="iv-open"]')).to_have_text(name, timeout=T)
    await open_detail(page, iv)
    await expect(page.locator("#detail-name")).to_have_text(name, timeout=T)
    await expect(page.locator("#detail-position")).to_have_text("Analyst")
    await expect(answer_text(page, 0)).to_have_text("one three", timeout=T)
    marker = page.locator('[data-testid="answer"][data-q="0"] [data-testid="answer-unreadable"]')
    await expect(marker).to_contain_text(note, timeout=T)
    await expect(
        page.locator('[data-testid="answer"][data-q="1"] [data-testid="answer-unreadable"]')
    ).to_be_hidden()
    no_js_errors(page, REFUSALS)
