"""The default assessment: verbatim evidence, deterministic, insufficient data never a low score."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.assessment import (
    DIMENSIONS,
    MIN_TOTAL_TOKENS,
    RUBRIC_VERSION,
    Answer,
    Completion,
    Segment,
    assess,
    simple_tokenize,
)

STAR_ANSWER = (
    "When I was at my previous company, our team had to migrate the billing system. "
    "My task was to plan the migration. First, I analysed the old code. Then I proposed a "
    "staged rollout, because a big-bang switch was risky. As a result, we reduced downtime "
    "by 80% and saved 200 hours."
)
RAMBLING_ANSWER = (
    "um it was ok i think um we did some things and uh it was fine you know and um yes it "
    "was ok and things were done and it was ok"
)
PRESSURE_OWNED = (
    "The launch slipped by two weeks and my manager was upset. I took responsibility, I "
    "learned to plan buffers, and next time I would warn the team earlier. I stayed calm."
)
PRESSURE_BLAMING = (
    "The launch slipped by two weeks. It was their fault, the plan was stupid and unfair, "
    "and honestly it was impossible. I hate projects like that."
)
ZH_ANSWER = (
    "当时我在上一家公司负责支付系统的迁移。首先，我分析了旧系统的问题；其次，我提出了分阶段上线的方案，"
    "因为一次性切换风险太大。最终我们把停机时间降低了百分之八十，节省了200小时。"
)

words = st.sampled_from(
    ["first", "because", "I", "led", "the", "team", "um", "result", "reduced", "30%", "首先",
     "因此", "我", "负责", "项目", "结果", "提高", "。", ".", "!", "\n", " ", "hate", "learned",
     "unfair", "next time", "İ", "ß", "5 days", "百分之二十"]
)  # fmt: skip
texts = st.lists(words, max_size=80).map(" ".join)


@st.composite
def answer_sets(draw: st.DrawFn) -> list[Answer]:
    count = draw(st.integers(1, 4))
    out = []
    for q in range(count):
        text = draw(texts)
        kind = draw(st.sampled_from(["typed", "spoken"]))
        segments: tuple[Segment, ...] = ()
        if kind == "spoken" and text:
            cut = draw(st.integers(0, len(text)))
            segments = (Segment(0, 1000, text[:cut]), Segment(1000, 2000, text[cut:]))
        out.append(
            Answer(
                q,
                draw(st.sampled_from(["Tell me about a project you led", "谈谈一次失败"])),
                kind,
                text,
                segments,
                tuple(draw(st.lists(st.sampled_from(["team", "30%", "负责项目"]), max_size=2))),
                draw(st.booleans()),
                draw(st.integers(0, 60000)),
            )
        )
    return out


@settings(max_examples=150, deadline=None)
@given(answer_sets(), st.integers(0, 3), st.integers(0, 3))
def test_every_quote_is_verbatim_at_its_offsets(
    answers: list[Answer], exits: int, abandoned: int
) -> None:
    """Every evidence quote is answer.text[start:end] of the answer it names, with a time only for spoken answers."""
    result = assess(answers, Completion(exits, abandoned))
    by_q = {a.q: a for a in answers}
    for dimension in result["dimensions"].values():
        for e in dimension["evidence"]:
            answer = by_q[e["q"]]
            assert answer.text[e["start"] : e["end"]] == e["quote"] and e["quote"]
            assert ("t_ms" in e) == (answer.kind == "spoken")


@settings(max_examples=60, deadline=None)
@given(answer_sets())
def test_the_result_is_deterministic(answers: list[Answer]) -> None:
    """The same answers give the same result, to the byte, with the rubric version in it."""
    first = json.dumps(assess(answers), ensure_ascii=False, sort_keys=True)
    again = json.dumps(assess(list(answers)), ensure_ascii=False, sort_keys=True)
    assert first == again and RUBRIC_VERSION in first


@settings(max_examples=100, deadline=None)
@given(answer_sets())
def test_scores_and_bands_stay_in_range(answers: list[Answer]) -> None:
    """A scored dimension has a 0-100 score, a band and weights summing to 1; an unscored one has none."""
    for dimension in assess(answers)["dimensions"].values():
        if dimension["status"] == "scored":
            assert 0 <= dimension["score"] <= 100 and dimension["band"]
            weights = sum(m["weight"] for m in dimension["measures"])
            assert abs(weights - 1) < 1e-3
        else:
            assert dimension["score"] is None and dimension["band"] is None
            assert dimension["reason"] and dimension["explanation"]["en"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["yes", "no", "ok", "是", "好"]), max_size=MIN_TOTAL_TOKENS - 1))
def test_thin_input_gives_insufficient_data_never_a_low_score(few: list[str]) -> None:
    """Fewer words than the minimum, even marked as pressure answers, score nothing and say why."""
    answers = [
        Answer(q, "Tell me about yourself", "typed", w, pressure=True) for q, w in enumerate(few)
    ]
    result = assess(answers)
    assert result["status"] == "insufficient_data"
    assert result["recommendation"]["value"] == "insufficient_data"
    for name in DIMENSIONS:
        assert result["dimensions"][name]["status"] == "insufficient_data"
        assert result["dimensions"][name]["score"] is None


def test_a_structured_answer_scores_higher_on_logic_than_rambling() -> None:
    """Markers, STAR coverage and numbers raise logical thinking; fillers lower a typed answer's language score."""
    question = "Tell me about a migration project you led"
    good = assess([Answer(0, question, "typed", STAR_ANSWER)])["dimensions"]
    poor = assess([Answer(0, question, "typed", RAMBLING_ANSWER)])["dimensions"]
    assert good["logical_thinking"]["score"] > poor["logical_thinking"]["score"] + 30
    assert good["language_expression"]["score"] > poor["language_expression"]["score"]
    fillers = {m["name"]: m["score"] for m in poor["language_expression"]["measures"]}["fillers"]
    assert fillers < 50
    quotes = [e["quote"] for e in good["logical_thinking"]["evidence"]]
    assert any("80%" in q for q in quotes) and any(q.startswith("First") for q in quotes)


def test_spoken_answers_are_not_marked_down_for_fillers_and_show_delivery_unweighted() -> None:
    """A transcript has no filler measure; speech rate and pauses are shown with weight 0; quotes carry the segment time."""
    text = STAR_ANSWER
    segments = (Segment(0, 5000, text[:80]), Segment(5000, 20000, text[80:]))
    result = assess(
        [Answer(0, "Tell me about a project", "spoken", text, segments, speech_ms=30000,
                pauses_ms=(700, 1200))]
    )  # fmt: skip
    language = result["dimensions"]["language_expression"]
    measures = {m["name"]: m for m in language["measures"]}
    assert "fillers" not in measures
    assert measures["pauses"]["value"] == 2 and measures["pauses"]["weight"] == 0
    assert measures["speech_rate"]["weight"] == 0 and measures["speech_rate"]["value"] > 0
    times = {e["quote"]: e["t_ms"] for e in result["dimensions"]["logical_thinking"]["evidence"]}
    assert times["First, I analysed the old code."] == 5000


def test_composure_comes_only_from_pressure_answers_and_own_exits() -> None:
    """Owning a setback scores above blaming; own exits lower it; no pressure question means insufficient data."""
    plain = Answer(0, "Tell me about a project", "typed", STAR_ANSWER)

    def composure(text: str, exits: int = 0) -> dict:
        pressure = Answer(1, "Tell me about a failure", "typed", text, pressure=True)
        return assess([plain, pressure], Completion(exits))["dimensions"]["emotional_stability"]

    owned, blamed = composure(PRESSURE_OWNED), composure(PRESSURE_BLAMING)
    assert owned["score"] > blamed["score"] + 20
    assert composure(PRESSURE_OWNED, exits=2)["score"] < owned["score"]
    assert any("their fault" in e["quote"] for e in blamed["evidence"])
    alone = assess([plain])["dimensions"]["emotional_stability"]
    assert alone["status"] == "insufficient_data" and alone["reason"] == "no_pressure_questions"


def test_chinese_answers_score_with_chinese_markers() -> None:
    """Chinese structure markers, STAR cues and 百分之 numbers are found, and quotes are Chinese sentences."""
    result = assess([Answer(0, "谈谈你负责的一个项目", "typed", ZH_ANSWER)])
    logic = result["dimensions"]["logical_thinking"]
    assert logic["status"] == "scored"
    measures = {m["name"]: m["score"] for m in logic["measures"]}
    assert measures["structure_markers"] == 100 and measures["star_coverage"] >= 75
    assert measures["quantified_results"] == 100
    assert any(e["quote"].startswith("首先") for e in logic["evidence"])


def test_expected_points_count_when_the_answer_covers_them() -> None:
    """HR's expected points add a measure: covered points raise it, missed ones do not."""

    def points(text: str) -> float:
        answer = Answer(
            0,
            "Tell me about a project",
            "typed",
            text,
            expected_points=("billing migration", "kubernetes"),
        )
        logic = assess([answer])["dimensions"]["logical_thinking"]
        return {m["name"]: m["score"] for m in logic["measures"]}["expected_points"]

    assert points(STAR_ANSWER) == 50
    assert points(STAR_ANSWER + " We ran it all on Kubernetes.") == 100


def test_the_simple_tokenizer_splits_latin_words_and_chinese_characters() -> None:
    """Latin words come out lower-cased; each Chinese character is a token of its own."""
    assert simple_tokenize("I led 首先 don't!") == ["i", "led", "首", "先", "don't"]
