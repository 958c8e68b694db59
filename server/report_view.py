"""A stored report as a person reads it: one language, the organisation's name and time
zone, local times, plain words for codes. The HTML page (templates/report.html) and the
PDF (server/report_pdf.py) both render this view, so they say the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol.assessment import BAND_LABELS, DIMENSION_LABELS, RECOMMENDATIONS

LANGS = ("zh-CN", "en")
DEFAULT_TIME_ZONE = "Asia/Shanghai"

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "AI 面试评估报告",
        "version": "第 {version} 版 · 第 {attempt} 次作答",
        "candidate": "候选人",
        "position": "岗位",
        "organisation": "机构",
        "state": "状态",
        "progress": "进度",
        "progress_value": "已答 {answered}/{total} 题（{percent}%），未完成 {partial} 题",
        "interruptions": "中断",
        "interruptions_value": "网络断开 {disconnects} 次，候选人退出 {exits} 次",
        "started": "开始时间",
        "generated": "报告生成时间",
        "time_zone": "时区",
        "review": "AI 辅助评估",
        "review_ai": "候选人已同意 AI 辅助评估",
        "review_human_only": "候选人要求仅由人工评审（《个人信息保护法》第 24 条）：未计算 AI 评分",
        "review_none": "未记录候选人的选择",
        "camera": "摄像头",
        "camera_on": "开启（候选人单独同意）",
        "camera_off": "未开启：仅语音和文字",
        "camera_none": "未记录",
        "scores": "评分",
        "recommendation": "综合建议（仅供参考）",
        "not_scored": "未评分：未配置评分器。",
        "human_only": "候选人要求仅由人工评审，因此未计算任何 AI 评分。请阅读下方回答。",
        "band": "等级",
        "measure": "子项",
        "score": "得分",
        "weight": "权重",
        "shown": "仅展示",
        "evidence": "证据（原文摘录）",
        "no_evidence": "无摘录",
        "play": "播放此处",
        "question_n": "第 {n} 题",
        "answers": "回答与转写",
        "duration": "用时 {s} 秒",
        "typed": "文字作答",
        "spoken": "语音作答（转写）",
        "transcript_pending": "转写尚未完成。",
        "transcript_unreadable": "转写记录无法读取。",
        "recording": "录音录像",
        "unreadable_parts": "此回答有 {n} 段无法读取，以下为其余部分。",
        "no_answer": "（无内容）",
        "pressure": "压力题",
        "expected_points": "预期要点",
        "timeline": "中断与操作时间线",
        "no_events": "无记录",
        "by": "操作人",
        "method": "评分方法说明",
        "method_body": (
            "本报告由评分规则 {rubric} 自动生成，评分器：{scorer}。语言表达看回答长度、词汇多样性、"
            "句子结构与填充词（仅文字作答）；逻辑思维看结构连接词、情境-任务-行动-结果覆盖、量化结果"
            "及与问题和预期要点的相关性；情绪稳定性仅评估压力题回答的措辞与完成情况（作答稳定性/抗压"
            "表现）。本报告从不使用人脸、声音语调或任何情绪识别（欧盟《人工智能法》"
            "第 5(1)(f) 条禁止在招聘中进行情绪识别）。数据不足时显示“数据不足”，不会给出低分。"
        ),
        "advisory": "评分与建议仅供参考，不会自动淘汰任何候选人；由人来决定。",
        "unreadable_report": "此版本报告无法读取：存储的记录无法打开。其他版本和面试本身不受影响。",
        "unreadable_name": "[无法读取]",
        "system": "系统",
        "candidate_actor": "候选人",
        "pdf": "下载 PDF",
        "made_by": "评分来源",
        "scorer_llm": "大语言模型（{model}），引文已逐字核对",
        "scorer_default": "规则评分 {rubric}",
        "dropped": "已删除 {n} 条无法在回答中逐字找到的引文",
        "fallback": "大语言模型评分不可用（{reason}），以下为规则评分。",
        "hr_review": "人工评审",
        "override": "人工评分",
        "machine": "机器评分",
        "reason": "理由",
        "decision": "人工决定",
        "comment": "意见",
        "no_review": "尚无人工评审。",
        "decisions": "advance=进入下一轮|hold=待定|reject=不通过",
    },
    "en": {
        "title": "AI interview assessment report",
        "version": "Version {version} · attempt {attempt}",
        "candidate": "Candidate",
        "position": "Position",
        "organisation": "Organisation",
        "state": "State",
        "progress": "Progress",
        "progress_value": "{answered} of {total} answered ({percent}%), {partial} partial",
        "interruptions": "Interruptions",
        "interruptions_value": "{disconnects} network drops, {exits} exits by the candidate",
        "started": "Started",
        "generated": "Report made",
        "time_zone": "Time zone",
        "review": "AI assistance",
        "review_ai": "The candidate consented to AI-assisted assessment",
        "review_human_only": (
            "The candidate asked for human-only review (PIPL Art. 24): no AI score was computed"
        ),
        "review_none": "The candidate's choice is not recorded",
        "camera": "Camera",
        "camera_on": "on (the candidate's separate consent)",
        "camera_off": "off: voice and text only",
        "camera_none": "not recorded",
        "scores": "Scores",
        "recommendation": "Overall suggestion (advisory)",
        "not_scored": "Not scored: no scorer is configured.",
        "human_only": (
            "The candidate asked for human-only review, so no AI score was computed. "
            "Read the answers below."
        ),
        "band": "Band",
        "measure": "Measure",
        "score": "Score",
        "weight": "Weight",
        "shown": "shown only",
        "evidence": "Evidence (verbatim quotes)",
        "no_evidence": "No quotes",
        "play": "play from here",
        "question_n": "Question {n}",
        "answers": "Answers and transcripts",
        "duration": "{s} s",
        "typed": "typed",
        "spoken": "spoken (transcript)",
        "transcript_pending": "The transcript is not ready yet.",
        "transcript_unreadable": "The transcript cannot be read.",
        "recording": "recording",
        "unreadable_parts": "{n} part(s) of this answer cannot be read; the rest says this.",
        "no_answer": "(nothing)",
        "pressure": "pressure question",
        "expected_points": "Expected points",
        "timeline": "Interruptions and actions",
        "no_events": "None",
        "by": "by",
        "method": "How this was scored",
        "method_body": (
            "Made by rubric {rubric}, scorer: {scorer}. Language expression looks at length, "
            "lexical diversity, sentence structure and fillers (typed answers only); logical "
            "thinking at structure markers, situation-task-action-result coverage, quantified "
            "results and relevance to the question and the expected points; emotional "
            "stability only at the wording of answers to pressure questions and at completion "
            "(composure under pressure). Faces, the voice's tone and any emotion recognition "
            "are never used (the EU AI Act, Art. 5(1)(f), forbids emotion recognition in "
            "recruitment). Too little data shows as insufficient data, never as a low score."
        ),
        "advisory": (
            "Scores and the suggestion are advisory; nothing rejects a candidate automatically. "
            "A person decides."
        ),
        "unreadable_report": (
            "This version cannot be read: its stored record does not open. Other versions "
            "and the interview itself are not affected."
        ),
        "unreadable_name": "[unreadable]",
        "system": "system",
        "candidate_actor": "the candidate",
        "pdf": "Download PDF",
        "made_by": "Scored by",
        "scorer_llm": "a language model ({model}); quotes checked verbatim",
        "scorer_default": "the rubric {rubric}",
        "dropped": "{n} quote(s) not found verbatim in the answers were dropped",
        "fallback": "The language model's scoring failed ({reason}); these are the rubric's.",
        "hr_review": "Review by a person",
        "override": "Person's score",
        "machine": "machine score",
        "reason": "Reason",
        "decision": "Decision",
        "comment": "Comment",
        "no_review": "No review by a person yet.",
        "decisions": "advance=advance|hold=hold|reject=reject",
    },
}

STATES = {
    "invited": {"zh-CN": "已邀请，未开始", "en": "invited, not started"},
    "in_progress": {"zh-CN": "进行中", "en": "in progress"},
    "exited": {"zh-CN": "候选人已退出", "en": "the candidate left"},
    "completed": {"zh-CN": "已完成", "en": "completed"},
    "ended": {"zh-CN": "已由 HR 结束", "en": "ended by HR"},
    "expired": {"zh-CN": "链接已过期", "en": "the link expired"},
}
ANSWER_STATES = {
    "answered": {"zh-CN": "已作答", "en": "answered"},
    "timed_out": {"zh-CN": "到时自动提交", "en": "closed at its time limit"},
    "partial": {"zh-CN": "未完成（中途退出或被结束）", "en": "partial (interrupted)"},
    "open": {"zh-CN": "作答中", "en": "being answered"},
    "not_reached": {"zh-CN": "未到达", "en": "not reached"},
}
EVENTS = {
    "joined": {"zh-CN": "候选人进入面试", "en": "the candidate joined"},
    "disconnected": {"zh-CN": "网络断开", "en": "the connection dropped"},
    "exit_requested": {"zh-CN": "候选人申请退出", "en": "the candidate asked to exit"},
    "exit_cancelled": {"zh-CN": "候选人取消退出", "en": "the candidate stayed"},
    "exited": {"zh-CN": "候选人退出", "en": "the candidate exited"},
    "reentry_granted": {"zh-CN": "HR 允许再次进入", "en": "HR allowed a second entry"},
    "reentry_revoked": {"zh-CN": "HR 撤销再次进入", "en": "HR withdrew the second entry"},
    "ended": {"zh-CN": "面试被 HR 结束", "en": "HR ended the interview"},
    "expired": {"zh-CN": "链接过期", "en": "the link expired"},
    "reset": {"zh-CN": "面试被重置", "en": "the interview was reset"},
}


def zone_of(name: str) -> ZoneInfo:
    """The time zone ``name``; the default one for a name that is none."""
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Presentation:
    lang: str
    org_name: str
    time_zone: str
    base: str = ""  # what links to the answers' recordings start with ("" for relative)


def local_time(ms: int, zone: ZoneInfo) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def plain(table: dict[str, dict[str, str]], code: str, lang: str) -> str:
    return table.get(code, {}).get(lang, code)


def view(report: dict[str, Any], p: Presentation) -> dict[str, Any]:
    """Everything the page and the PDF show, in ``p.lang``."""
    lang = p.lang if p.lang in LANGS else "zh-CN"
    t = TEXT[lang]
    zone = zone_of(p.time_zone)
    out: dict[str, Any] = {
        "lang": lang,
        "t": t,
        "org_name": p.org_name,
        "time_zone": zone.key,
        "version": report.get("version"),
    }
    if "report" in (report.get("unreadable") or []):
        out["unreadable"] = True
        out["heading"] = t["version"].format(version=report.get("version"), attempt="?")
        return out
    name = (
        t["unreadable_name"]
        if "candidate" in (report.get("unreadable") or [])
        else report["candidate"]
    )
    progress = report["progress"]
    breaks = report["interruptions"]
    caused = report.get("caused_by")
    who = (
        t["candidate_actor"]
        if caused == "candidate"
        else t["system"]
        if caused in (None, "system")
        else str(caused)
    )
    review = report.get("review") or ""
    camera = str((report.get("consent") or {}).get("camera") or "")
    out.update(
        unreadable=False,
        candidate=name,
        position=report["position"],
        heading=t["version"].format(version=report.get("version"), attempt=report["attempt"]),
        facts=[
            (t["state"], f"{plain(STATES, report['state'], lang)} ({who})"),
            (t["progress"], t["progress_value"].format(**progress)),
            (t["interruptions"], t["interruptions_value"].format(**breaks)),
            (t["started"], local_time(report.get("started_ms", 0), zone)),
            (t["generated"], local_time(report.get("generated_ms", 0), zone)),
            (t["time_zone"], zone.key),
            (
                t["review"],
                t["review_" + review] if review in ("ai", "human_only") else t["review_none"],
            ),
            (t["camera"], t["camera_" + camera] if camera in ("on", "off") else t["camera_none"]),
        ],
        answers=[answer_view(a, lang, p.base) for a in report["answers"]],
        timeline=[
            {
                "time": local_time(e.get("t", 0), zone),
                "what": plain(EVENTS, e.get("kind", ""), lang),
                "by": str(e.get("by") or ""),
            }
            for e in breaks.get("history", [])
        ],
    )
    out["review"] = review_view(report.get("hr_review") or {}, lang, zone)
    scores = scores_view(report.get("scores") or {}, report["answers"], lang, p.base)
    for d in scores["dimensions"]:
        d["override"] = next(
            (o["score"] for o in out["review"]["overrides"] if o["name"] == d["name"]), None
        )
    out["scores"] = scores
    out["method"] = t["method_body"].format(
        rubric=scores["rubric"] or "-", scorer=scores["scorer"] or "-"
    )
    return out


def recording_link(base: str, q: int, t_ms: int | None) -> str:
    link = f"{base}answers/{q}/recording.webm"
    return f"{link}#t={t_ms / 1000:.1f}" if t_ms is not None else link


def answer_view(a: dict[str, Any], lang: str, base: str) -> dict[str, Any]:
    t = TEXT[lang]
    spoken = a.get("kind") == "spoken"
    transcript = a.get("transcript")
    note = ""
    segments: list[dict[str, Any]] = []
    text = a.get("text", "")
    if spoken:
        if transcript is None:
            note, text = t["transcript_pending"], ""
        elif transcript.get("unreadable"):
            note, text = t["transcript_unreadable"], ""
        else:
            text = transcript.get("text", "")
            segments = [
                {
                    "at": f"{(s.get('start_ms') or 0) / 1000:.1f}s",
                    "text": s.get("text", ""),
                    "link": recording_link(base, a["q"], s.get("start_ms") or 0),
                }
                for s in transcript.get("segments") or []
            ]
    status = plain(ANSWER_STATES, a.get("status", ""), lang)
    if a.get("duration_s") is not None:
        status += " · " + t["duration"].format(s=a["duration_s"])
    return {
        "q": a["q"],
        "anchor": f"answer-{a['q']}",
        "label": t["question_n"].format(n=a["q"] + 1),
        "question": a["question"],
        "status": status,
        "partial": bool(a.get("partial")),
        "kind": t["spoken"] if spoken else t["typed"],
        "spoken": spoken,
        "recording": recording_link(base, a["q"], None) if spoken else "",
        "text": text,
        "segments": segments,
        "note": note,
        "unreadable": t["unreadable_parts"].format(n=a.get("unreadable_chunks", 0))
        if a.get("unreadable")
        else "",
        "pressure": bool(a.get("pressure")),
        "expected_points": list(a.get("expected_points") or []),
    }


def scores_view(
    scores: dict[str, Any], answers: list[dict[str, Any]], lang: str, base: str
) -> dict[str, Any]:
    t = TEXT[lang]
    status = scores.get("status", "not_scored")
    out: dict[str, Any] = {
        "status": status,
        "scorer": scores.get("scorer", ""),
        "rubric": scores.get("rubric_version", ""),
        "dimensions": [],
    }
    if status == "human_only":
        out["message"] = t["human_only"]
        return out
    if status == "not_scored":
        out["message"] = t["not_scored"]
        return out
    kinds = {a["q"]: a.get("kind") for a in answers}
    if scores.get("fallback_from"):
        out["fallback"] = t["fallback"].format(reason=scores["fallback_from"].get("reason", ""))
    for name, d in (scores.get("dimensions") or {}).items():
        if not isinstance(d, dict):
            continue
        out["dimensions"].append(
            {
                "name": name,
                "label": d.get("label", DIMENSION_LABELS.get(name, {})).get(lang, name),
                "made_by": t["scorer_llm"].format(model=scores.get("model", ""))
                if d.get("scorer") == "llm"
                else t["scorer_default"].format(rubric=scores.get("rubric_version", "")),
                "dropped": t["dropped"].format(n=d["dropped_quotes"])
                if d.get("dropped_quotes")
                else "",
                "score": d.get("score"),
                "band": BAND_LABELS.get(d.get("band") or "", {}).get(lang, ""),
                "explanation": (d.get("explanation") or {}).get(lang, ""),
                "measures": [
                    {
                        "label": m["label"].get(lang, m["name"]),
                        "value": m["score"] if m["score"] is not None else m["value"],
                        "weight": t["shown"] if not m["weight"] else f"{m['weight'] * 100:.0f}%",
                    }
                    for m in d.get("measures", [])
                ],
                "evidence": [
                    {
                        "quote": e["quote"],
                        "answer": f"#answer-{e['q']}",
                        "label": t["question_n"].format(n=e["q"] + 1),
                        "play": recording_link(base, e["q"], e["t_ms"])
                        if kinds.get(e["q"]) == "spoken" and e.get("t_ms") is not None
                        else "",
                    }
                    for e in d.get("evidence", [])
                ],
            }
        )
    rec = scores.get("recommendation") or {}
    if rec:
        out["recommendation"] = RECOMMENDATIONS.get(rec.get("value", ""), {}).get(lang, "")
    return out


def review_view(review: dict[str, Any], lang: str, zone: ZoneInfo) -> dict[str, Any]:
    """A person's overrides (beside the machine's scores) and decision, in ``lang``."""
    t = TEXT[lang]
    decisions = dict(item.split("=") for item in t["decisions"].split("|"))
    overrides = []
    for name, o in sorted((review.get("overrides") or {}).items()):
        if o.get("unreadable"):
            continue
        overrides.append(
            {
                "name": name,
                "label": DIMENSION_LABELS.get(name, {}).get(lang, name),
                "score": o.get("score"),
                "machine": o.get("machine_score"),
                "reason": o.get("reason", ""),
                "by": o.get("by", ""),
                "time": local_time(o.get("at_ms", 0), zone),
            }
        )
    decision = review.get("decision") or {}
    return {
        "overrides": overrides,
        "decision": {
            "value": decisions.get(decision.get("decision", ""), decision.get("decision", "")),
            "comment": decision.get("comment", ""),
            "by": decision.get("by", ""),
            "time": local_time(decision.get("at_ms", 0), zone),
        }
        if decision and not decision.get("unreadable")
        else None,
    }
