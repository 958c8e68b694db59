"""Scorers for reports: the default rubric (protocol/assessment.py) fed from a report's facts.

``HUB_SCORER`` chooses: ``default`` (the rubric, offline and deterministic), ``none``
(no scores, said so) or ``llm`` (server/llm_scorer.py, checked against the rubric's rules
and falling back to it). Whichever is configured, an interview whose candidate asked for
human-only review (meta ``review`` = ``human_only``, PIPL Art. 24) gets no AI score at
all: the report says why.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from typing import Any, Protocol

from protocol import assessment
from protocol.assessment import DIMENSIONS, Answer, Completion, Segment
from server.settings import Settings

log = logging.getLogger("interview_hub.scoring")

HUMAN_ONLY = "human_only"
WORD = re.compile(r"\w", re.UNICODE)


class Scorer(Protocol):
    """Scores a report's answers. Returns {"status", "scorer", "dimensions": {name: ...}}."""

    name: str

    async def score(self, facts: dict[str, Any]) -> dict[str, Any]: ...


class NotScored:
    """``HUB_SCORER=none``: no scoring at all, every dimension None."""

    name = "none"

    async def score(self, facts: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "not_scored",
            "scorer": self.name,
            "reason": "no scorer is configured",
            "dimensions": dict.fromkeys(DIMENSIONS),
        }


def human_only() -> dict[str, Any]:
    """What a report holds instead of scores when the candidate asked for a person only."""
    return {
        "status": "human_only",
        "scorer": "none",
        "reason": "the candidate asked for human-only review (PIPL Art. 24)",
        "dimensions": dict.fromkeys(DIMENSIONS),
    }


_jieba_ready = False


def jieba_tokenize(text: str) -> list[str]:
    """Words of ``text`` by jieba (Chinese words; Latin words whole), lower-cased, without
    punctuation and white space."""
    global _jieba_ready
    with warnings.catch_warnings():
        # jieba 0.42.1's sources hold invalid escape sequences ("\."): a warning when Python
        # compiles them (DeprecationWarning on 3.11, SyntaxWarning later), harmless (the
        # regexes mean what they say)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import jieba

    if not _jieba_ready:
        jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at INFO
        _jieba_ready = True
    return [w.lower() for w in jieba.lcut(text) if WORD.search(w)]


def answers_of(facts: dict[str, Any]) -> list[Answer]:
    """The rubric's input from a report's facts: a spoken answer's text is its transcript."""
    out = []
    for a in facts["answers"]:
        transcript = a.get("transcript") or {}
        if a.get("kind") == "spoken":
            text = str(transcript.get("text") or "")
            segments = tuple(
                Segment(int(s.get("start_ms", 0)), int(s.get("end_ms", 0)), str(s.get("text", "")))
                for s in transcript.get("segments") or []
            )
            pauses = tuple(
                int(p.get("end_ms", 0)) - int(p.get("start_ms", 0))
                for p in transcript.get("pauses") or []
            )
            speech_ms = int(transcript.get("speech_ms") or 0)
        else:
            text, segments, pauses, speech_ms = a["text"], (), (), 0
        out.append(
            Answer(
                q=a["q"],
                question=a["question"],
                kind="spoken" if a.get("kind") == "spoken" else "typed",
                text=text,
                segments=segments,
                expected_points=tuple(a.get("expected_points") or ()),
                pressure=bool(a.get("pressure")),
                speech_ms=speech_ms,
                pauses_ms=pauses,
            )
        )
    return out


def completion_of(facts: dict[str, Any]) -> Completion:
    """The candidate's own exits, and the questions left when they exited for good (a
    network drop is neither; an end by HR or an expiry is not the candidate's doing)."""
    left = 0
    if facts.get("state") == "exited":
        left = sum(1 for a in facts["answers"] if a["status"] not in ("answered", "timed_out"))
    return Completion(exits=int(facts["interruptions"]["exits"]), abandoned=left)


class DefaultScorer:
    """The rubric of protocol/assessment.py, with jieba's segmentation for Chinese."""

    name = assessment.SCORER_NAME

    async def score(self, facts: dict[str, Any]) -> dict[str, Any]:
        answers, completion = answers_of(facts), completion_of(facts)
        # jieba's first call loads its dictionary (about a second): off the event loop
        return await asyncio.to_thread(assessment.assess, answers, completion, jieba_tokenize)


def scorer_for(settings: Settings) -> Scorer:
    """The scorer HUB_SCORER names."""
    if settings.scorer == "none":
        return NotScored()
    if settings.scorer == "llm":
        from server.llm_scorer import LLMScorer

        return LLMScorer(
            settings.llm_url, settings.llm_model, settings.llm_key, settings.llm_timeout_s
        )
    return DefaultScorer()


__all__ = ["DIMENSIONS", "DefaultScorer", "NotScored", "Scorer", "human_only", "scorer_for"]
