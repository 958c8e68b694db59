"""End to end: espeak-ng's English through Chromium's fake microphone, WebRTC, the hub, Redis
and the transcription worker, back to HR as a transcript."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import Hub, interview_body, keyed_store, make_org, start_hub
from tests.speech import espeak, silence, word_error_rate, words_of, write_wav
from tests.web.conftest import CHROMIUM_FLAGS, DESKTOP, chromium_path, new_page, no_js_errors
from tests.web.test_candidate import enter, saved

SAID = "I would start by listening to the customer and then write down the problem."
MAX_WER = 0.25
LOOPS = 2  # complete loops of the file recorded before the answer is finished


def best_window_wer(reference: str, heard: str) -> float:
    """The file loops: the lowest word error rate of the reference against any stretch of
    what was heard about its length (one whole loop is in there)."""
    ref, hyp = words_of(reference), words_of(heard)
    best = 1.0
    for size in range(max(1, len(ref) - 3), len(ref) + 4):
        for start in range(0, max(1, len(hyp) - size + 1)):
            best = min(best, word_error_rate(reference, " ".join(hyp[start : start + size])))
    return best


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The fake microphone's file (48 kHz, as Chromium captures) and one loop's seconds."""
    pcm = silence(700) + espeak(SAID) + silence(1500)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    at_48k = np.interp(np.arange(len(samples) * 3) / 3, np.arange(len(samples)), samples)
    path = tmp_path_factory.mktemp("mic") / "answer.wav"
    write_wav(path, at_48k.round().astype("<i2").tobytes(), rate=48_000)
    return path, len(pcm) / 32_000


@pytest.fixture(scope="module")
async def speaking_browser(speech_file: tuple[Path, float]) -> AsyncIterator[Browser]:
    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={speech_file[0]}"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=flags, headless=True
        )
        yield browser
        await browser.close()


async def test_a_spoken_answer_through_the_browser_comes_back_as_a_transcript(
    redis_server: Any,
    tmp_path: Path,
    speaking_browser: Browser,
    speech_file: tuple[Path, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Chromium's fake microphone plays espeak-ng's English: the hub stores it from WebRTC, its own worker transcribes the answer when it closes (Whisper base from the wheels), and HR reads it within the word-error bound."""
    hub: Hub = start_hub(
        redis_server.url,
        tmp_path,
        HUB_ASR="whisper-base",
        HUB_ASR_CACHE=str(tmp_path_factory.getbasetemp() / "asr-e2e-models"),
        # niced, the model starves behind a loaded run's other processes past its bound
        HUB_ASR_NICE="0",
        HUB_ASR_TIMEOUT_S="900",
    )
    try:
        org = await make_org(hub, redis_server.url)
        body = interview_body(1)
        body["candidate"]["lang"] = "en"  # transcribed as English (zh-CN: as Mandarin)
        async with httpx.AsyncClient(base_url=hub.http, headers=org.auth("admin")) as http:
            iv = (await http.post("/api/hr/interviews", json=body)).json()
        iv_id = iv["interview_id"]
        context = await speaking_browser.new_context(
            base_url=hub.http, viewport=DESKTOP, permissions=["camera", "microphone"]
        )
        page = await new_page(context)
        await enter(page, iv["link"])
        status = page.locator("#media-status")
        await expect(status).to_have_attribute("data-state", "connected", timeout=20_000)
        await page.type("#answer", "see my spoken answer", delay=10)
        await saved(page)
        store = keyed_store(hub.redis_url)
        try:
            loop_s = speech_file[1]
            while await store.audio_ms(iv_id, 0) < (LOOPS + 1) * loop_s * 1000:
                await asyncio.sleep(0.2)  # speaking; bounded by the test's timeout
        finally:
            await store.close()
        await page.click("#finish")  # the last question: the interview completes
        await expect(page.locator("#stopped-title")).to_be_visible()
        no_js_errors(page)
        await context.close()
        async with httpx.AsyncClient(base_url=hub.http, headers=org.auth("admin")) as http:
            detail: dict[str, Any] = {}
            while not detail.get("answers") or detail["answers"][0]["transcript"] != "done":
                assert not detail.get("answers") or detail["answers"][0]["transcript"] in (
                    "pending",
                    "none",
                ), detail["answers"][0]
                await asyncio.sleep(0.5)  # the model loads on its first job, then runs
                detail = (await http.get(f"/api/hr/interviews/{iv_id}")).json()
            r = await http.get(f"/api/hr/interviews/{iv_id}/answers/0/transcript")
        record = r.json()
        wer = best_window_wer(SAID, record["text"])
        print(f"\nheard through the browser: {record['text']!r} (best WER {wer:.2f})")
        assert wer <= MAX_WER
        assert record["engine"] == "faster-whisper" and record["speech_ms"] > 0
        assert len(record["pauses"]) >= LOOPS - 1  # the silence between the loops
        assert hub.errors() == []
    finally:
        hub.stop()
