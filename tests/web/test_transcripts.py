"""Transcripts in the HR console: beside the recording, each line seeks it; the answer search."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from server.store import Store
from tests.conftest import Hub, Org
from tests.server.test_transcribe import store_audio
from tests.speech import espeak, silence
from tests.web.conftest import no_js_errors
from tests.web.test_console import REFUSALS, T, create, login

SAID = "we moved the payment service to the new cluster"


def record(audio_ms: int) -> dict[str, Any]:
    first = {"start_ms": 0, "end_ms": 1500, "text": "We moved", "words": []}
    second = {"start_ms": 2500, "end_ms": 4000, "text": "the payment service", "words": []}
    return {
        "text": SAID,
        "language": "en",
        "engine": "faster-whisper",
        "model": "whisper-base",
        "segments": [first, second],
        "audio_ms": audio_ms,
        "speech_ms": 3000,
        "pauses": [{"start_ms": 1500, "end_ms": 2500}],
        "made_ms": 1,
    }


async def test_a_transcript_shows_beside_the_recording_and_its_lines_seek_it(
    hub: Hub, new_context: Any, org: Org, store: Store
) -> None:
    """A pending transcript shows as such and, once the worker saves it, its segments show under the answer without a reload; clicking one plays the recording from that segment's start; searching a phrase of it finds the answer."""
    created = await create(hub, org, questions=2)
    iv = created["interview_id"]
    pcm = espeak("We moved") + silence(1200) + espeak("the payment service") + silence(1000)
    await store_audio(store, iv, 0, pcm)
    assert await store.set_transcription_state(iv, 1, 0, {"status": "pending"})
    page = await login(new_context, org, "admin")
    await page.goto(f"/hr#iv/{iv}")
    answer = page.locator("[data-testid='answer'][data-q='0']")
    transcript = answer.locator("[data-testid='transcript']")
    await expect(transcript).to_have_attribute("data-status", "pending", timeout=T)
    await expect(transcript).to_contain_text("being made")
    # the worker saves it: the open page shows it without a reload
    assert await store.save_transcript(iv, 1, 0, record(len(pcm) * 1000 // 32_000))
    await expect(transcript).to_have_attribute("data-status", "done", timeout=T)
    segments = transcript.locator("[data-testid='transcript-segment']")
    await expect(segments).to_have_count(2, timeout=T)
    await expect(segments.nth(1)).to_contain_text("0:02 the payment service")
    await expect(transcript.locator("[data-testid='transcript-facts']")).to_contain_text("1 pauses")
    # the unspoken answer shows no transcript at all
    await expect(
        page.locator("[data-testid='answer'][data-q='1'] [data-testid='transcript']")
    ).to_have_count(0)
    await segments.nth(1).click()
    await page.wait_for_function(
        "() => { const v = document.querySelector(\"[data-q='0'] video[data-testid='recording']\");"
        " return v && v.currentTime >= 2.4; }",
        timeout=T,
    )
    await page.goto("/hr#list")
    await page.fill("#search-input", "PAYMENT service")
    await page.click("#search-submit")
    hit = page.locator(f"[data-testid='search-hit'][data-id='{iv}']")
    await expect(hit).to_have_attribute("data-source", "transcript", timeout=T)
    await expect(hit).to_have_attribute("data-q", "0")
    await page.fill("#search-input", "nobody said this")
    await page.click("#search-submit")
    await expect(page.locator("#search-empty")).to_be_visible(timeout=T)
    no_js_errors(page, REFUSALS)
