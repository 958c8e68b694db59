"""The default assessment: three dimensions scored from what the candidate wrote or said.

Pure and deterministic: the same answers give the same result, byte for byte; nothing
here reads a clock, a file or the network. Every result carries ``RUBRIC_VERSION``: change
a list, a weight or a band below and that version changes with it (docs/assessment.md is
the same rubric in words).

What is scored, and from what (docs/assessment.md has the detail):

- ``language_expression`` (语言表达): length against the question's expectation, lexical
  diversity, sentence structure, and fillers in typed answers (a transcript drops them).
  Speech rate and pauses of spoken answers are shown, with weight 0.
- ``logical_thinking`` (逻辑思维): structure markers, situation-task-action-result
  coverage, quantified results, relevance to the question and to HR's expected points.
- ``emotional_stability`` (情绪稳定性), scored as composure under pressure (作答稳定性/
  抗压表现): only the words of answers to questions HR marked as pressure questions, and
  completion behaviour (the candidate's own exits; network drops are not counted).

Never used: faces, the voice's tone, or any inference of emotion from either (that
science does not hold, and the EU AI Act, Art. 5(1)(f), forbids emotion recognition in
recruitment). Too little to go on gives ``insufficient_data`` with the reason, never a low
score. The recommendation is advisory: a person decides.

Every evidence quote is ``answer.text[start:end]`` exactly, so a reader can find it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Literal

RUBRIC_VERSION = "default-1.0"
SCORER_NAME = "default"

Tokenizer = Callable[[str], list[str]]
Kind = Literal["typed", "spoken"]

DIMENSIONS = ("language_expression", "logical_thinking", "emotional_stability")

# How much an answer must say before it counts as something to score: fewer words than
# this in an answer, or in all answers together, is "insufficient data", not a low score.
MIN_ANSWER_TOKENS = 8
MIN_TOTAL_TOKENS = 30
MIN_PRESSURE_TOKENS = 15

MAX_QUOTE_CHARS = 200
MAX_EVIDENCE = 6

# Bands, highest first: (lowest score, band).
BANDS = ((85, "strong"), (70, "good"), (55, "fair"), (0, "limited"))
BAND_LABELS = {
    "strong": {"zh-CN": "突出", "en": "strong"},
    "good": {"zh-CN": "良好", "en": "good"},
    "fair": {"zh-CN": "一般", "en": "fair"},
    "limited": {"zh-CN": "有限", "en": "limited"},
}
DIMENSION_LABELS = {
    "language_expression": {"zh-CN": "语言表达", "en": "Language expression"},
    "logical_thinking": {"zh-CN": "逻辑思维", "en": "Logical thinking"},
    "emotional_stability": {
        "zh-CN": "情绪稳定性（作答稳定性/抗压表现）",
        "en": "Emotional stability (composure under pressure)",
    },
}
MEASURE_LABELS = {
    "length": {"zh-CN": "回答长度（对照预期）", "en": "Length against expectation"},
    "lexical_diversity": {"zh-CN": "词汇多样性", "en": "Lexical diversity"},
    "sentence_structure": {"zh-CN": "句子结构", "en": "Sentence structure"},
    "fillers": {"zh-CN": "口头禅/填充词（仅文字作答）", "en": "Fillers (typed answers only)"},
    "speech_rate": {"zh-CN": "语速（词/分钟，仅展示）", "en": "Speech rate (words/min, shown)"},
    "pauses": {"zh-CN": "停顿次数（仅展示）", "en": "Pauses (shown, not weighted)"},
    "structure_markers": {"zh-CN": "结构连接词", "en": "Structure markers"},
    "star_coverage": {"zh-CN": "情境-任务-行动-结果覆盖", "en": "Situation-task-action-result"},
    "quantified_results": {"zh-CN": "量化结果", "en": "Quantified results"},
    "relevance": {"zh-CN": "与问题的相关性", "en": "Relevance to the question"},
    "expected_points": {"zh-CN": "覆盖预期要点", "en": "Expected points covered"},
    "ownership": {"zh-CN": "担当与反思", "en": "Ownership and reflection"},
    "balanced_language": {"zh-CN": "措辞平和", "en": "Balanced language"},
    "steadiness": {"zh-CN": "压力题作答完整度", "en": "Steadiness on pressure questions"},
    "completion": {"zh-CN": "完成情况（不含断网）", "en": "Completion (network drops excluded)"},
}
RECOMMENDATIONS = {
    "strong_match": {
        "zh-CN": "整体表现较强，可考虑进入下一轮（仅供参考，由人工决定）",
        "en": "Strong overall; consider advancing (advisory; a person decides)",
    },
    "possible_match": {
        "zh-CN": "表现中等，建议人工仔细复核（仅供参考，由人工决定）",
        "en": "Mixed; review the answers closely (advisory; a person decides)",
    },
    "weak_match": {
        "zh-CN": "评分偏低，建议结合证据人工复核（仅供参考，由人工决定）",
        "en": "Low scores; check them against the evidence (advisory; a person decides)",
    },
    "insufficient_data": {
        "zh-CN": "数据不足，无法给出建议，请人工查看回答",
        "en": "Not enough data for a suggestion; read the answers",
    },
}
INSUFFICIENT_REASONS = {
    "no_answers": {
        "zh-CN": "没有可评分的回答",
        "en": "no answer to score",
    },
    "too_little_text": {
        "zh-CN": f"回答内容太少（合计少于 {MIN_TOTAL_TOKENS} 个词）",
        "en": f"too little was said (fewer than {MIN_TOTAL_TOKENS} words in all)",
    },
    "no_pressure_questions": {
        "zh-CN": "没有标记为压力题的问题，无法评估抗压表现",
        "en": "no question is marked as a pressure question, so composure is not assessed",
    },
    "pressure_not_answered": {
        "zh-CN": f"压力题的回答太少（少于 {MIN_PRESSURE_TOKENS} 个词）",
        "en": f"the pressure questions were not answered enough "
        f"(fewer than {MIN_PRESSURE_TOKENS} words)",
    },
}

# Weights per dimension; they sum to 1 over the measures that apply. Measures that do not
# apply to an answer (fillers in a transcript, expected points HR did not give) drop out and
# the others are scaled up in proportion.
LANGUAGE_WEIGHTS = {
    "length": 0.30,
    "lexical_diversity": 0.25,
    "sentence_structure": 0.25,
    "fillers": 0.20,
}
LOGIC_WEIGHTS = {
    "structure_markers": 0.25,
    "star_coverage": 0.25,
    "quantified_results": 0.15,
    "relevance": 0.35,
}
LOGIC_WEIGHTS_WITH_POINTS = {
    "structure_markers": 0.25,
    "star_coverage": 0.20,
    "quantified_results": 0.15,
    "relevance": 0.15,
    "expected_points": 0.25,
}
COMPOSURE_WEIGHTS = {
    "ownership": 0.30,
    "balanced_language": 0.25,
    "steadiness": 0.20,
    "completion": 0.25,
}

# An answer's expected length in words: more expected points, a longer answer.
BASE_EXPECTED_TOKENS = 40
TOKENS_PER_EXPECTED_POINT = 15
MAX_EXPECTED_TOKENS = 120


def _cues(*words: str) -> re.Pattern[str]:
    """One pattern for a list of cues: Latin ones as whole words, Chinese ones as they are."""
    parts = []
    for w in sorted(words, key=lambda s: (-len(s), s)):
        escaped = re.escape(w)
        parts.append(rf"\b{escaped}\b" if w[:1].isascii() and w[-1:].isascii() else escaped)
    return re.compile("|".join(parts), re.IGNORECASE)


FILLERS = _cues(
    "um", "umm", "uh", "uhh", "er", "erm", "hmm", "you know", "嗯", "呃", "额", "那个那个"
)
STRUCTURE_MARKERS = _cues(
    "first", "firstly", "second", "secondly", "third", "then", "next", "finally", "lastly",
    "because", "therefore", "so that", "as a result", "however", "but", "although",
    "for example", "for instance", "in summary", "overall", "in the end", "on the other hand",
    "首先", "其次", "再次", "然后", "最后", "因为", "所以", "因此", "但是", "然而", "不过",
    "虽然", "例如", "比如", "总之", "总的来说", "第一", "第二", "第三", "另外", "此外", "一方面",
    "另一方面",
)  # fmt: skip
STAR_CUES = {
    "situation": _cues(
        "when i was", "at my", "in my previous", "in my last", "last year", "the project",
        "our team", "at the time", "背景", "当时", "项目", "在公司", "之前", "团队",
    ),
    "task": _cues(
        "my task", "my role", "i was responsible", "responsible for", "the goal", "goal was",
        "needed to", "had to", "i was asked", "任务", "负责", "目标", "需要", "要求",
    ),
    "action": _cues(
        "i decided", "i led", "i built", "i wrote", "i organised", "i organized", "i proposed",
        "i set up", "i created", "i designed", "i implemented", "i started", "i talked",
        "i worked", "i analysed", "i analyzed", "we decided", "我决定", "我带领", "我组织",
        "我提出", "我设计", "我实施", "采取", "我主动", "我分析", "我推动", "我们决定",
    ),
    "result": _cues(
        "result", "as a result", "in the end", "reduced", "increased", "improved", "saved",
        "achieved", "delivered", "grew", "结果", "最终", "提高", "提升", "降低", "减少", "增加",
        "节省", "完成了", "达成",
    ),
}  # fmt: skip
QUANTITY = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:%|percent\b|per cent\b|times\b|x\b|倍|万|千|百|个|人|天|周|月|年|小时|"
    r"分钟|元|hours?\b|days?\b|weeks?\b|months?\b|years?\b|users?\b|customers?\b|people\b|k\b)"
    r"|百分之[零一二三四五六七八九十百\d]+",
    re.IGNORECASE,
)
OWNERSHIP = _cues(
    "i learned", "i learnt", "i realised", "i realized", "lesson", "next time", "my mistake",
    "i took responsibility", "my responsibility", "i would", "i reflected", "i apologised",
    "i apologized", "stayed calm", "i stayed", "feedback", "我学到", "学到了", "教训", "反思",
    "下次", "我的责任", "我的问题", "改进", "总结", "冷静", "接受", "调整",
)  # fmt: skip
BLAME = _cues(
    "their fault", "not my fault", "his fault", "her fault", "unfair", "stupid", "hate",
    "i gave up", "impossible", "ridiculous", "idiot", "都怪", "不是我的错", "怪他", "受不了",
    "讨厌", "崩溃", "放弃了", "太差", "没办法",
)  # fmt: skip
STOPWORD_TEXT = (
    "a an the and or of to in on at for with about your you me my i we our it is are was "
    "were be been do did does what how why when where which who tell describe please time "
    "that this there have has had can could would should any some 的 了 是 你 我 在 和 与 "
    "一个 什么 如何 怎么 怎样 请 描述 一下 一次 有 吗 呢 吧 过 做 这 那 哪 为什么 谈谈 说说 介绍"
)
STOPWORDS = frozenset(STOPWORD_TEXT.split())
SENTENCE_END = re.compile(r"[.!?。！？；;\n]+")
LATIN_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def simple_tokenize(text: str) -> list[str]:
    """Words of Latin-script text, lower-cased; each Chinese character counts as a word
    (the server passes jieba's segmentation instead, which finds real Chinese words)."""
    tokens: list[str] = []
    for match in LATIN_WORD.finditer(text):
        word = match[0]
        if CJK.search(word):
            tokens.extend(word.lower())  # a run of Chinese characters: one token each
        else:
            tokens.append(word.lower())
    return tokens


# --- input and output ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a transcript: its text and its times from the start of the answer."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    q: int
    question: str
    kind: Kind
    text: str
    segments: tuple[Segment, ...] = ()
    expected_points: tuple[str, ...] = ()
    pressure: bool = False
    speech_ms: int = 0  # spoken answers: time with speech (voice-activity detection)
    pauses_ms: tuple[int, ...] = ()  # spoken answers: each pause's length


@dataclass(frozen=True, slots=True)
class Completion:
    """How the candidate finished: their own exits and the questions they left (a network
    drop is none of these)."""

    exits: int = 0
    abandoned: int = 0


@dataclass(frozen=True, slots=True)
class Evidence:
    q: int
    start: int
    end: int
    quote: str
    measure: str
    t_ms: int | None = None  # spoken answers: where the segment holding the quote starts

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "q": self.q,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "measure": self.measure,
        }
        if self.t_ms is not None:
            out["t_ms"] = self.t_ms
        return out


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    value: float  # what was measured (a ratio, a count, words per minute)
    score: float | None  # 0-100, None for a measure shown but not scored
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": MEASURE_LABELS[self.name],
            "value": round(self.value, 3),
            "score": None if self.score is None else round(self.score, 1),
            "weight": round(self.weight, 4),
        }


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    status: Literal["scored", "insufficient_data"]
    score: int | None
    measures: tuple[Measure, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    answers_used: tuple[int, ...] = ()
    reason: str = ""

    @property
    def band(self) -> str | None:
        return band_of(self.score) if self.score is not None else None

    def explanation(self) -> dict[str, str]:
        if self.status == "insufficient_data":
            why = INSUFFICIENT_REASONS[self.reason]
            return {
                "zh-CN": f"数据不足：{why['zh-CN']}。",
                "en": f"Insufficient data: {why['en']}.",
            }
        weighted = sorted(
            (m for m in self.measures if m.score is not None and m.weight > 0),
            key=lambda m: (-(m.score or 0), m.name),
        )
        best, worst = weighted[0], weighted[-1]
        band = BAND_LABELS[self.band or "limited"]
        count = len(self.answers_used)
        return {
            "zh-CN": f"{self.score} 分（{band['zh-CN']}），依据 {count} 个回答；"
            f"最强：{MEASURE_LABELS[best.name]['zh-CN']}（{best.score:.0f}），"
            f"最弱：{MEASURE_LABELS[worst.name]['zh-CN']}（{worst.score:.0f}）。",
            "en": f"{self.score} ({band['en']}) from {count} answer{'s' if count != 1 else ''}; "
            f"strongest: {MEASURE_LABELS[best.name]['en'].lower()} ({best.score:.0f}), "
            f"weakest: {MEASURE_LABELS[worst.name]['en'].lower()} ({worst.score:.0f}).",
        }

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": DIMENSION_LABELS[self.name],
            "status": self.status,
            "score": self.score,
            "band": self.band,
            "explanation": self.explanation(),
            "measures": [m.to_json() for m in self.measures],
            "evidence": [e.to_json() for e in self.evidence],
            "answers_used": list(self.answers_used),
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def band_of(score: int) -> str:
    return next(band for lowest, band in BANDS if score >= lowest)


# --- text helpers ---------------------------------------------------------------------------


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, surrounding white space left out."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            trimmed.append((s, e))
    return trimmed


def quote_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence holding text[start:end], cut to MAX_QUOTE_CHARS around it."""
    for s, e in sentence_spans(text):
        if s <= start < e:
            if e - s <= MAX_QUOTE_CHARS:
                return s, e
            left = max(s, start - (MAX_QUOTE_CHARS - (end - start)) // 2)
            return left, min(e, left + MAX_QUOTE_CHARS)
    return start, end


def segment_starts(answer: Answer) -> list[tuple[int, int]]:
    """(char offset in the text, start_ms) of each transcript segment found in order."""
    found: list[tuple[int, int]] = []
    position = 0
    for seg in answer.segments:
        needle = seg.text.strip()
        if not needle:
            continue
        at = answer.text.find(needle, position)
        if at < 0:
            continue
        found.append((at, seg.start_ms))
        position = at + len(needle)
    return found


def evidence_at(answer: Answer, start: int, end: int, measure: str) -> Evidence:
    s, e = quote_around(answer.text, start, end)
    t_ms = None
    if answer.kind == "spoken":
        for offset, ms in segment_starts(answer):
            if offset <= s:
                t_ms = ms
            else:
                break
        if t_ms is None and answer.segments:
            t_ms = answer.segments[0].start_ms
    return Evidence(answer.q, s, e, answer.text[s:e], measure, t_ms)


def content_tokens(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in STOPWORDS and (len(t) > 1 or CJK.match(t))]


def clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return max(low, min(high, value))


def ramp(value: float, zero_at: float, full_at: float) -> float:
    """0 at ``zero_at``, 100 at ``full_at``, straight between, clamped."""
    if full_at == zero_at:
        return 100.0 if value >= full_at else 0.0
    return clamp((value - zero_at) / (full_at - zero_at) * 100)


def steps(count: int, table: Sequence[float]) -> float:
    """table[count], the last entry for anything more."""
    return table[min(count, len(table) - 1)]


def weighted(
    scores: dict[str, float | None], weights: dict[str, float]
) -> tuple[float, dict[str, float]]:
    """The weighted mean of the measures that apply, and the weights as used (scaled to 1)."""
    present = {k: w for k, w in weights.items() if scores.get(k) is not None}
    total = sum(present.values())
    used = {k: w / total for k, w in present.items()}
    return sum((scores[k] or 0.0) * w for k, w in used.items()), used


def mentions(words: set[str], word: str) -> bool:
    """Whether ``word`` is among ``words``; a long Latin word also by its first five
    letters (a crude stem: "migrated" mentions "migration")."""
    if word in words:
        return True
    if len(word) >= 5 and word.isascii():
        return any(w.startswith(word[:5]) for w in words)
    return False


def first_matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches of ``pattern``, one per distinct cue (case-insensitive), in text order."""
    seen: set[str] = set()
    out = []
    for match in pattern.finditer(text):
        cue = match[0].lower()
        if cue not in seen:
            seen.add(cue)
            out.append(match)
    return out


# --- per answer ----------------------------------------------------------------------------


@dataclass(slots=True)
class AnswerScores:
    q: int
    scores: dict[str, float | None]
    facts: dict[str, float] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)


def expected_tokens(answer: Answer) -> int:
    return min(
        MAX_EXPECTED_TOKENS,
        BASE_EXPECTED_TOKENS + TOKENS_PER_EXPECTED_POINT * len(answer.expected_points),
    )


def language_of(answer: Answer, tokens: list[str]) -> AnswerScores:
    n = len(tokens)
    expect = expected_tokens(answer)
    length = ramp(n, 0, expect) if n <= 4 * expect else 80.0  # far too long loses a little
    window = tokens[:50] if len(tokens) >= 50 else tokens
    ttr = len(set(window)) / len(window)
    sentences = sentence_spans(answer.text)
    mean_len = n / max(1, len(sentences))
    if mean_len < 8:
        structure = ramp(mean_len, 2, 8)
    elif mean_len <= 25:
        structure = 100.0
    else:
        structure = 100.0 - ramp(mean_len, 25, 60)
    out = AnswerScores(
        answer.q,
        {
            "length": length,
            "lexical_diversity": ramp(ttr, 0.3, 0.7),
            "sentence_structure": structure,
            "fillers": None,
        },
        {"tokens": n},
    )
    if answer.kind == "typed":
        fillers = list(FILLERS.finditer(answer.text))
        out.scores["fillers"] = 100.0 - ramp(len(fillers) * 100 / n, 0, 8)
        out.evidence.extend(evidence_at(answer, m.start(), m.end(), "fillers") for m in fillers[:2])
    else:
        if answer.speech_ms > 0:
            out.facts["speech_rate"] = n / (answer.speech_ms / 60000)
        out.facts["pauses"] = len(answer.pauses_ms)
    if sentences:
        longest = max(sentences, key=lambda se: (se[1] - se[0], -se[0]))
        out.evidence.append(evidence_at(answer, longest[0], longest[1], "sentence_structure"))
    return out


def logic_of(answer: Answer, tokens: list[str], tokenize: Tokenizer) -> AnswerScores:
    markers = first_matches(STRUCTURE_MARKERS, answer.text)
    star = {part: pattern.search(answer.text) for part, pattern in STAR_CUES.items()}
    quantities = list(QUANTITY.finditer(answer.text))
    question_words = sorted(set(content_tokens(tokenize(answer.question))))
    answer_words = set(tokens)
    if question_words:
        overlap = sum(1 for w in question_words if mentions(answer_words, w)) / len(question_words)
        relevance: float | None = ramp(overlap, 0, 0.5)
    else:
        relevance = None
    scores: dict[str, float | None] = {
        "structure_markers": steps(len(markers), (0, 40, 70, 100)),
        "star_coverage": sum(1 for m in star.values() if m) * 25.0,
        "quantified_results": steps(len(quantities), (0, 70, 100)),
        "relevance": relevance,
        "expected_points": None,
    }
    out = AnswerScores(answer.q, scores)
    for m in markers[:2]:
        out.evidence.append(evidence_at(answer, m.start(), m.end(), "structure_markers"))
    for m in quantities[:1]:
        out.evidence.append(evidence_at(answer, m.start(), m.end(), "quantified_results"))
    result = star["result"]
    if result:
        out.evidence.append(evidence_at(answer, result.start(), result.end(), "star_coverage"))
    if answer.expected_points:
        covered = 0
        lowered = answer.text.lower()
        for point in answer.expected_points:
            words = sorted(set(content_tokens(tokenize(point))))
            hit = sum(1 for w in words if mentions(answer_words, w))
            if (words and hit * 2 >= len(words)) or (point.strip() and point.lower() in lowered):
                covered += 1
                anchor = next((w for w in words if w in lowered), "")
                at = lowered.find(anchor) if anchor else -1
                if at >= 0 and len(lowered) == len(answer.text):
                    out.evidence.append(
                        evidence_at(answer, at, at + len(anchor), "expected_points")
                    )
        scores["expected_points"] = covered * 100.0 / len(answer.expected_points)
    return out


def composure_of(answer: Answer, tokens: list[str], usual_tokens: float) -> AnswerScores:
    owning = first_matches(OWNERSHIP, answer.text)
    blaming = first_matches(BLAME, answer.text)
    steadiness = ramp(len(tokens) / max(1.0, usual_tokens), 0.1, 0.7)
    out = AnswerScores(
        answer.q,
        {
            "ownership": steps(len(owning), (0, 60, 100)),
            "balanced_language": clamp(100.0 - 25 * len(blaming)),
            "steadiness": steadiness,
        },
    )
    for m in owning[:2]:
        out.evidence.append(evidence_at(answer, m.start(), m.end(), "ownership"))
    for m in blaming[:2]:
        out.evidence.append(evidence_at(answer, m.start(), m.end(), "balanced_language"))
    return out


# --- the dimensions -----------------------------------------------------------------------


def combine(
    name: str,
    per_answer: list[AnswerScores],
    weights: dict[str, float],
    extra: dict[str, float | None] | None = None,
    shown: tuple[Measure, ...] = (),
) -> Dimension:
    """The dimension from its answers' measures: each measure averaged over the answers it
    applies to, then the weighted mean."""
    means: dict[str, float | None] = {}
    for measure in weights:
        values = [a.scores[measure] for a in per_answer if a.scores.get(measure) is not None]
        means[measure] = sum(v for v in values if v is not None) / len(values) if values else None
    means.update(extra or {})
    total, used = weighted(means, weights)
    measures = tuple(
        Measure(m, means[m] or 0.0, means[m], used.get(m, 0.0))
        for m in weights
        if means.get(m) is not None
    )
    evidence = unique_evidence(e for a in per_answer for e in a.evidence)
    return Dimension(
        name,
        "scored",
        round(total),
        measures + shown,
        evidence,
        tuple(a.q for a in per_answer),
    )


def unique_evidence(items: Any) -> tuple[Evidence, ...]:
    seen: set[tuple[int, int, int]] = set()
    out: list[Evidence] = []
    for e in items:
        if (e.q, e.start, e.end) in seen or len(out) >= MAX_EVIDENCE:
            continue
        seen.add((e.q, e.start, e.end))
        out.append(e)
    return tuple(out)


def insufficient(name: str, reason: str, used: Sequence[int] = ()) -> Dimension:
    return Dimension(name, "insufficient_data", None, answers_used=tuple(used), reason=reason)


def assess(
    answers: Sequence[Answer],
    completion: Completion = Completion(),
    tokenize: Tokenizer = simple_tokenize,
) -> dict[str, Any]:
    """The assessment of one attempt's answers, as the report keeps it (JSON-ready)."""
    tokens = {a.q: tokenize(a.text) for a in answers}
    counted = [a for a in answers if len(tokens[a.q]) >= MIN_ANSWER_TOKENS]
    total = sum(len(tokens[a.q]) for a in counted)
    if not counted:
        thin = "no_answers" if not any(tokens.values()) else "too_little_text"
        language = insufficient("language_expression", thin)
        logic = insufficient("logical_thinking", thin)
    elif total < MIN_TOTAL_TOKENS:
        used = [a.q for a in counted]
        language = insufficient("language_expression", "too_little_text", used)
        logic = insufficient("logical_thinking", "too_little_text", used)
    else:
        spoken = [a for a in counted if a.kind == "spoken"]
        rates = [a.speech_ms for a in spoken if a.speech_ms > 0]
        shown: tuple[Measure, ...] = ()
        if spoken:
            words = sum(len(tokens[a.q]) for a in spoken if a.speech_ms > 0)
            rate = words / (sum(rates) / 60000) if rates else 0.0
            pauses = sum(len(a.pauses_ms) for a in spoken)
            shown = (Measure("speech_rate", rate, None, 0.0), Measure("pauses", pauses, None, 0.0))
        language = combine(
            "language_expression",
            [language_of(a, tokens[a.q]) for a in counted],
            LANGUAGE_WEIGHTS,
            shown=shown,
        )
        any_points = any(a.expected_points for a in counted)
        logic = combine(
            "logical_thinking",
            [logic_of(a, tokens[a.q], tokenize) for a in counted],
            LOGIC_WEIGHTS_WITH_POINTS if any_points else LOGIC_WEIGHTS,
        )
    composure = assess_composure(answers, tokens, completion)
    dimensions = {d.name: d for d in (language, logic, composure)}
    return {
        "status": "scored"
        if any(d.status == "scored" for d in dimensions.values())
        else "insufficient_data",
        "scorer": SCORER_NAME,
        "rubric_version": RUBRIC_VERSION,
        "dimensions": {name: dimensions[name].to_json() for name in DIMENSIONS},
        "recommendation": recommend(list(dimensions.values())),
        "advisory": True,
    }


def assess_composure(
    answers: Sequence[Answer], tokens: dict[int, list[str]], completion: Completion
) -> Dimension:
    pressure = [a for a in answers if a.pressure]
    if not pressure:
        return insufficient("emotional_stability", "no_pressure_questions")
    answered = [a for a in pressure if len(tokens[a.q]) >= MIN_ANSWER_TOKENS]
    if sum(len(tokens[a.q]) for a in answered) < MIN_PRESSURE_TOKENS:
        return insufficient("emotional_stability", "pressure_not_answered", [a.q for a in answered])
    others = [len(tokens[a.q]) for a in answers if not a.pressure and tokens[a.q]]
    usual = float(median(others)) if others else float(BASE_EXPECTED_TOKENS)
    completion_score = clamp(100.0 - 30 * completion.exits - 30 * completion.abandoned)
    return combine(
        "emotional_stability",
        [composure_of(a, tokens[a.q], usual) for a in answered],
        COMPOSURE_WEIGHTS,
        extra={"completion": completion_score},
    )


def recommend(dimensions: list[Dimension]) -> dict[str, Any]:
    scored = [d.score for d in dimensions if d.score is not None]
    if len(scored) < 2:
        value = "insufficient_data"
    else:
        mean = sum(scored) / len(scored)
        value = "strong_match" if mean >= 75 else "possible_match" if mean >= 55 else "weak_match"
    return {"value": value, "label": RECOMMENDATIONS[value], "advisory": True}


__all__ = [
    "DIMENSIONS",
    "RUBRIC_VERSION",
    "Answer",
    "Completion",
    "Segment",
    "assess",
    "simple_tokenize",
]
