"""The optional LLM scorer (``HUB_SCORER=llm``): an OpenAI-compatible chat service scores
the three dimensions with quotes; the hub keeps only what it can check.

- Each quote must be verbatim in the answer it names (a spoken answer's transcript); any
  other quote is dropped and counted (``dropped_quotes``).
- The rubric's rules still bind: a dimension the rubric finds too thin to score, and
  composure without an answered pressure question, stay ``insufficient_data`` whatever the
  model says; composure quotes only from pressure answers.
- A dimension the model gives no valid score for is the rubric's, and says so
  (``scorer: "default"``); a failure, a malformed reply or no reply within
  ``HUB_LLM_TIMEOUT_S`` gives the whole rubric result, with ``fallback_from`` saying why.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from protocol import assessment
from protocol.assessment import DIMENSION_LABELS, DIMENSIONS, Dimension, band_of, recommend
from server.scoring import DefaultScorer, answers_of

log = logging.getLogger("interview_hub.llm_scorer")

INSTRUCTIONS = """You help HR read a job candidate's interview answers. Score three dimensions \
from 0 to 100 from the words of the answers only:
- language_expression: clarity, structure of sentences, vocabulary, fitting length;
- logical_thinking: structure, situation-task-action-result, quantified results, relevance \
to the question and to its expected_points;
- emotional_stability: composure under pressure, ONLY from answers whose "pressure" is true \
(ownership, balanced wording, staying on task).
Never infer emotion, personality or anything else from faces, voices or names. If there is \
too little to judge a dimension, give score null.
Reply with one JSON object only: {"dimensions": {"<dimension>": {"score": <0-100 or null>, \
"explanation_en": "<one line>", "explanation_zh": "<一句话>", "quotes": [{"q": <answer \
index>, "quote": "<exact words copied from that answer>"}]}}}. Quotes must be copied \
character for character from the answer text."""


class LLMReplyError(ValueError):
    """The service answered, but not with what the scorer asked for."""


class LLMScorer:
    name = "llm"

    def __init__(self, url: str, model: str, key: str, timeout_s: float) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.key = key
        self.timeout_s = timeout_s
        self.rubric = DefaultScorer()

    async def score(self, facts: dict[str, Any]) -> dict[str, Any]:
        import httpx  # loaded on first use: a hub that never posts starts faster

        baseline = await self.rubric.score(facts)
        try:
            reply = await asyncio.wait_for(self._ask(facts), self.timeout_s)
            return self._merge(facts, baseline, reply)
        except (httpx.HTTPError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
            why = "timeout" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            log.warning("LLM scorer failed for %s (%s); the rubric's scores are used",
                        facts.get("interview_id"), why[:200])  # fmt: skip
            return {**baseline, "fallback_from": {"scorer": self.name, "reason": why[:300]}}

    async def _ask(self, facts: dict[str, Any]) -> dict[str, Any]:
        answers = [
            {
                "q": a.q,
                "question": a.question,
                "pressure": a.pressure,
                "expected_points": list(a.expected_points),
                "text": a.text,
            }
            for a in answers_of(facts)
        ]
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": json.dumps({"answers": answers}, ensure_ascii=False)},
            ],
        }
        headers = {"authorization": f"Bearer {self.key}"} if self.key else {}
        import httpx  # loaded on first use: a hub that never posts starts faster

        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            r = await http.post(self.url, json=body, headers=headers)
        r.raise_for_status()
        content = r.json()["choices"][0]["message"]["content"]
        reply = json.loads(content)
        if not isinstance(reply, dict) or not isinstance(reply.get("dimensions"), dict):
            raise LLMReplyError("the reply has no dimensions object")
        return reply

    def _merge(
        self, facts: dict[str, Any], baseline: dict[str, Any], reply: dict[str, Any]
    ) -> dict[str, Any]:
        answers = {a.q: a for a in answers_of(facts)}
        dimensions: dict[str, Any] = {}
        kept: list[Dimension] = []
        for name in DIMENSIONS:
            rubric = baseline["dimensions"][name]
            given = reply["dimensions"].get(name)
            score = given.get("score") if isinstance(given, dict) else None
            if (
                rubric["status"] != "scored"  # the rubric's data rules bind the model too
                or not isinstance(score, int)
                or isinstance(score, bool)
                or not 0 <= score <= 100
                or not isinstance(given, dict)
            ):
                dimensions[name] = {**rubric, "scorer": "default"}
                kept.append(Dimension(name, rubric["status"], rubric["score"]))
                continue
            evidence, dropped = verbatim_quotes(given.get("quotes"), answers, name)
            dimensions[name] = {
                "label": DIMENSION_LABELS[name],
                "status": "scored",
                "score": score,
                "band": band_of(score),
                "explanation": {
                    "zh-CN": str(given.get("explanation_zh") or "")[:500],
                    "en": str(given.get("explanation_en") or "")[:500],
                },
                "measures": [],
                "evidence": evidence,
                "answers_used": sorted({e["q"] for e in evidence}),
                "dropped_quotes": dropped,
                "scorer": self.name,
            }
            kept.append(Dimension(name, "scored", score))
        return {
            "status": "scored" if any(d.score is not None for d in kept) else "insufficient_data",
            "scorer": self.name,
            "model": self.model,
            "rubric_version": baseline["rubric_version"],
            "dimensions": dimensions,
            "recommendation": recommend(kept),
            "advisory": True,
        }


def verbatim_quotes(
    quotes: Any, answers: dict[int, assessment.Answer], dimension: str
) -> tuple[list[dict[str, Any]], int]:
    """The model's quotes that are verbatim in the answer they name, as evidence with
    offsets (and the segment time of a spoken answer); how many were dropped."""
    kept: list[dict[str, Any]] = []
    dropped = 0
    for item in quotes if isinstance(quotes, list) else []:
        q = item.get("q") if isinstance(item, dict) else None
        quote = item.get("quote") if isinstance(item, dict) else None
        answer = answers.get(q) if isinstance(q, int) else None
        start = answer.text.find(quote) if answer and isinstance(quote, str) and quote else -1
        if (
            answer is None
            or not isinstance(quote, str)
            or start < 0
            or (dimension == "emotional_stability" and not answer.pressure)
            or len(kept) >= assessment.MAX_EVIDENCE
        ):
            dropped += 1
            continue
        evidence = assessment.Evidence(answer.q, start, start + len(quote), quote, "llm")
        if answer.kind == "spoken":
            starts = [ms for offset, ms in assessment.segment_starts(answer) if offset <= start]
            first = answer.segments[0].start_ms if answer.segments else 0
            evidence = assessment.Evidence(
                answer.q, start, start + len(quote), quote, "llm", starts[-1] if starts else first
            )
        kept.append(evidence.to_json())
    return kept, dropped
