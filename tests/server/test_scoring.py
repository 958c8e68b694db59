"""The server's scorer: jieba's Chinese words feed the rubric; facts become the rubric's input."""

from __future__ import annotations

from protocol.assessment import Answer, assess, simple_tokenize
from server.scoring import answers_of, completion_of, jieba_tokenize

ZH = (
    "当时我在上一家公司负责支付系统的迁移。首先，我分析了旧系统的问题；其次，我提出了分阶段上线的方案，"
    "因为一次性切换风险太大。最终我们把停机时间降低了百分之八十，节省了200小时。"
)


def test_jieba_counts_chinese_words_not_characters() -> None:
    """jieba segments Chinese into words (fewer tokens than characters), keeps Latin words whole and drops punctuation."""
    words = jieba_tokenize("我负责支付系统的迁移，使用 Kubernetes 部署。")
    assert "支付" in words or "支付系统" in words
    assert "kubernetes" in words and "，" not in words and "。" not in words
    assert len(jieba_tokenize(ZH)) < len(simple_tokenize(ZH))


def test_a_chinese_answer_is_scored_with_jieba_and_quotes_stay_verbatim() -> None:
    """With jieba the rubric scores a Chinese answer; every quote is verbatim at its offsets."""
    answers = [Answer(0, "谈谈你负责的一个迁移项目", "typed", ZH, expected_points=("停机时间",))]
    result = assess(answers, tokenize=jieba_tokenize)
    logic = result["dimensions"]["logical_thinking"]
    assert logic["status"] == "scored"
    measures = {m["name"]: m["score"] for m in logic["measures"]}
    assert measures["expected_points"] == 100 and measures["relevance"] > 0
    for dimension in result["dimensions"].values():
        for e in dimension["evidence"]:
            assert ZH[e["start"] : e["end"]] == e["quote"]


def test_facts_become_the_rubrics_input() -> None:
    """A spoken answer's text is its transcript; pauses become lengths; only the candidate's own exits and abandoned questions count."""
    facts = {
        "state": "exited",
        "interruptions": {"exits": 1, "disconnects": 5},
        "answers": [
            {"q": 0, "question": "Q1", "text": "typed", "status": "answered", "kind": "typed"},
            {
                "q": 1,
                "question": "Q2",
                "text": "",
                "status": "partial",
                "kind": "spoken",
                "pressure": True,
                "transcript": {
                    "text": "said words",
                    "segments": [{"start_ms": 0, "end_ms": 900, "text": "said words"}],
                    "speech_ms": 900,
                    "pauses": [{"start_ms": 100, "end_ms": 400}],
                },
            },
            {"q": 2, "question": "Q3", "text": "", "status": "not_reached", "kind": "typed"},
        ],
    }
    typed, spoken, _ = answers_of(facts)
    assert typed.text == "typed" and typed.kind == "typed"
    assert spoken.text == "said words" and spoken.pauses_ms == (300,) and spoken.pressure
    completion = completion_of(facts)
    assert completion.exits == 1 and completion.abandoned == 2  # network drops not counted
    assert completion_of({**facts, "state": "ended"}).abandoned == 0  # HR ended it
