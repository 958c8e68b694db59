"""The LLM scorer against a small local OpenAI-compatible server: verbatim quotes only, the rubric's data rules bind it, any failure or timeout falls back to the rubric and the report says which scorer made what."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import Hub, free_port, make_org, start_hub
from tests.server.test_reports_scoring import SPOKEN, answered_interview, report_version

INVENTED = "I single-handedly saved the company"


class ChatService:
    """A stand-in for an outside OpenAI-compatible chat service: ``mode`` says how it
    answers ("good", "error", "garbage", "slow"); ``requests`` keeps what it was sent."""

    def __init__(self) -> None:
        self.mode = "good"
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "auth": request.headers.get("authorization")})
        if self.mode == "error":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if self.mode == "slow":
            await asyncio.sleep(60)  # longer than the hub's HUB_LLM_TIMEOUT_S
        if self.mode == "garbage":
            return JSONResponse({"choices": [{"message": {"content": "I think they are great"}}]})
        answers = json.loads(body["messages"][1]["content"])["answers"]
        first, pressure, spoken = answers[0], answers[1], answers[2]
        content = {
            "dimensions": {
                "language_expression": {
                    "score": 77,
                    "explanation_en": "Clear and well organised.",
                    "explanation_zh": "表达清晰，条理分明。",
                    "quotes": [
                        {"q": 0, "quote": first["text"][:40]},
                        {"q": 0, "quote": INVENTED},  # not in the answer: dropped
                        {"q": 2, "quote": spoken["text"][-30:]},
                    ],
                },
                "logical_thinking": {"score": "high", "quotes": []},  # not a score: the rubric's
                "emotional_stability": {
                    "score": 64,
                    "explanation_en": "Owns the setback.",
                    "explanation_zh": "能正视挫折。",
                    "quotes": [
                        {"q": 1, "quote": pressure["text"][:30]},
                        {"q": 0, "quote": first["text"][:20]},  # not a pressure answer
                    ],
                },
            }
        }
        reply = {"choices": [{"message": {"role": "assistant", "content": json.dumps(content)}}]}
        return JSONResponse(reply)

    def start(self) -> None:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return
            threading.Event().wait(0.05)
        raise RuntimeError("the chat service did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatService]:
    service = ChatService()
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def llm_hub(
    redis_server: EmbeddedRedis, chat: ChatService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    hub = start_hub(
        redis_server.url,
        tmp_path_factory.mktemp("llmhub"),
        HUB_SCORER="llm",
        HUB_LLM_URL=chat.url,
        HUB_LLM_MODEL="stand-in-1",
        HUB_LLM_KEY="sk-test-key",
        HUB_LLM_TIMEOUT_S="20",  # a loaded machine may take seconds to reach the stand-in
    )
    yield hub
    hub.stop()


async def scored(llm_hub: Hub, redis_server: EmbeddedRedis, store: Store) -> dict[str, Any]:
    org = await make_org(llm_hub, redis_server.url)
    async with httpx.AsyncClient(base_url=llm_hub.http) as http:
        iv = await answered_interview(llm_hub, org, http, store)
        report = await report_version(http, iv, org.auth("admin"), 1)
        page = await http.get(
            f"/api/hr/interviews/{iv}/report.html?lang=en", headers=org.auth("admin")
        )
    return {**report, "page": page.text}


async def test_the_models_scores_are_kept_with_verbatim_quotes_only(
    llm_hub: Hub, chat: ChatService, redis_server: EmbeddedRedis, store: Store
) -> None:
    """Verbatim quotes are kept with offsets (and the segment time when spoken), invented ones and off-pressure composure quotes dropped; an unusable score is the rubric's, and each dimension names its scorer."""
    chat.mode = "good"
    report = await scored(llm_hub, redis_server, store)
    sent = chat.requests[-1]
    assert sent["auth"] == "Bearer sk-test-key" and sent["body"]["model"] == "stand-in-1"
    assert "faces" in sent["body"]["messages"][0]["content"]  # never from faces or voices
    scores = report["scores"]
    assert scores["scorer"] == "llm" and scores["model"] == "stand-in-1"
    language = scores["dimensions"]["language_expression"]
    assert language["scorer"] == "llm" and language["score"] == 77 and language["band"] == "good"
    assert language["dropped_quotes"] == 1
    assert all(INVENTED not in e["quote"] for e in language["evidence"])
    answers = report["answers"]
    for e in language["evidence"]:
        answer = answers[e["q"]]
        text = answer["transcript"]["text"] if answer["kind"] == "spoken" else answer["text"]
        assert text[e["start"] : e["end"]] == e["quote"]
    spoken = next(e for e in language["evidence"] if e["q"] == 2)
    assert spoken["quote"] == SPOKEN[-30:] and spoken["t_ms"] == 7000
    logic = scores["dimensions"]["logical_thinking"]
    assert logic["scorer"] == "default" and logic["measures"]  # the rubric's, said so
    composure = scores["dimensions"]["emotional_stability"]
    assert composure["score"] == 64 and composure["dropped_quotes"] == 1
    assert {e["q"] for e in composure["evidence"]} == {1}
    assert "a language model (stand-in-1)" in report["page"]
    assert (
        "the rubric default-" in report["page"]
        and "1 quote(s) not found verbatim" in report["page"]
    )


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
async def test_a_failing_service_falls_back_to_the_rubric_and_says_so(
    mode: str, llm_hub: Hub, chat: ChatService, redis_server: EmbeddedRedis, store: Store
) -> None:
    """An error status, a reply that is not the JSON asked for, or no reply in time: the rubric scores, and the report says why."""
    chat.mode = mode
    report = await scored(llm_hub, redis_server, store)
    scores = report["scores"]
    assert scores["scorer"] == "default" and scores["fallback_from"]["scorer"] == "llm"
    assert {d["status"] for d in scores["dimensions"].values()} == {"scored"}
    expected = {"error": "503", "garbage": "JSONDecodeError", "slow": "timeout"}[mode]
    assert expected in scores["fallback_from"]["reason"]
    assert "The language model&#39;s scoring failed" in report["page"]


def test_the_scorer_setting_is_checked_at_start() -> None:
    """HUB_SCORER takes default, none or llm; llm needs HUB_LLM_URL and HUB_LLM_MODEL."""
    from server.settings import Settings

    assert Settings.from_env({}).scorer == "default"
    for env in (
        {"HUB_SCORER": "magic"},
        {"HUB_SCORER": "llm"},
        {"HUB_SCORER": "llm", "HUB_LLM_URL": "http://127.0.0.1:1/v1"},
    ):
        with pytest.raises(ValueError, match="HUB_SCORER"):
            Settings.from_env(env)
    llm = {"HUB_SCORER": "llm", "HUB_LLM_URL": "http://x/v1", "HUB_LLM_MODEL": "m"}
    assert Settings.from_env(llm).llm_timeout_s == 60.0
