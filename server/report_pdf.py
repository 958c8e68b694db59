"""The report as a PDF (reportlab), from the same view as the HTML page.

Chinese needs no font file: reportlab's built-in CID font STSong-Light (Adobe's
Asian font pack names it; PDF readers supply the glyphs) covers Chinese and Latin text.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14, wordWrap="CJK")
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8.5, leading=12, textColor=colors.grey)
QUOTE = ParagraphStyle("quote", parent=BODY, leftIndent=8 * mm, textColor=colors.HexColor("#333"))
H1 = ParagraphStyle("h1", parent=BODY, fontSize=16, leading=21, spaceAfter=4)
H2 = ParagraphStyle("h2", parent=BODY, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4)
H3 = ParagraphStyle("h3", parent=BODY, fontSize=11, leading=15, spaceBefore=6)


def para(text: Any, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def render(v: dict[str, Any]) -> bytes:
    """The PDF of a report view (server/report_view.py)."""
    t = v["t"]
    out = BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=t["title"],
        author=v.get("org_name", ""),
    )
    story: list[Any] = []
    if v["unreadable"]:
        story += [para(t["title"], H1), para(v["heading"], SMALL), para(t["unreadable_report"])]
        doc.build(story)
        return out.getvalue()
    if v["org_name"]:
        story.append(para(v["org_name"], SMALL))
    story += [
        para(f"{v['candidate']} · {v['position']}", H1),
        para(f"{t['title']} · {v['heading']}", SMALL),
    ]
    story.append(Spacer(1, 3 * mm))
    facts = Table(
        [[para(label, SMALL), para(value)] for label, value in v["facts"]],
        colWidths=[38 * mm, None],
    )
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(facts)

    s = v["scores"]
    story.append(para(t["scores"], H2))
    if s.get("message"):
        story.append(para(s["message"]))
    else:
        if s.get("fallback"):
            story.append(para(s["fallback"], SMALL))
        if s.get("recommendation"):
            story.append(para(f"{t['recommendation']}: {s['recommendation']}"))
        for d in s["dimensions"]:
            score = f"{d['score']} · {d['band']}" if d["score"] is not None else ""
            story.append(para(f"{d['label']}  {score}", H3))
            story.append(para(d["explanation"]))
            made = f"{t['made_by']}: {d['made_by']}" + (
                f" · {d['dropped']}" if d["dropped"] else ""
            )
            story.append(para(made, SMALL))
            if d["measures"]:
                rows = [
                    [para(t["measure"], SMALL), para(t["score"], SMALL), para(t["weight"], SMALL)]
                ]
                rows += [
                    [para(m["label"]), para(f"{m['value']:.0f}"), para(m["weight"])]
                    for m in d["measures"]
                ]
                table = Table(rows, colWidths=[None, 22 * mm, 22 * mm])
                table.setStyle(
                    TableStyle(
                        [
                            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ]
                    )
                )
                story.append(table)
            if d["evidence"]:
                story.append(para(t["evidence"], SMALL))
                for e in d["evidence"]:
                    where = e["label"]
                    if e["play"]:
                        where += f' · <link href="{escape(e["play"])}">{escape(t["play"])}</link>'
                        story.append(Paragraph(f"“{escape(e['quote'])}” ({where})", QUOTE))
                    else:
                        story.append(Paragraph(f"“{escape(e['quote'])}” ({escape(where)})", QUOTE))
    story.append(Spacer(1, 2 * mm))
    story.append(para(t["advisory"]))

    story.append(para(t["hr_review"], H2))
    rv = v["review"]
    if not rv["overrides"] and not rv["decision"]:
        story.append(para(t["no_review"]))
    if rv["decision"]:
        d = rv["decision"]
        story.append(para(f"{t['decision']}: {d['value']} · {d['by']} · {d['time']}"))
        if d["comment"]:
            story.append(para(f"{t['comment']}: {d['comment']}"))
    for o in rv["overrides"]:
        machine = o["machine"] if o["machine"] is not None else "-"
        who = f"{o['by']} · {o['time']}"
        story.append(
            para(f"{o['label']}: {t['override']} {o['score']} ({t['machine']} {machine}) · {who}")
        )
        story.append(para(f"{t['reason']}: {o['reason']}"))

    story.append(para(t["answers"], H2))
    for a in v["answers"]:
        story.append(para(f"{a['label']}. {a['question']}", H3))
        line = f"{a['kind']} · {a['status']}" + (f" · {t['pressure']}" if a["pressure"] else "")
        story.append(para(line, SMALL))
        if a["unreadable"]:
            story.append(para(a["unreadable"], SMALL))
        if a["note"]:
            story.append(para(a["note"], SMALL))
        elif a["segments"]:
            for seg in a["segments"]:
                story.append(para(f"[{seg['at']}] {seg['text']}"))
        else:
            story.append(para(a["text"] or t["no_answer"]))

    story.append(para(t["timeline"], H2))
    for e in v["timeline"] or [{"time": "", "what": t["no_events"], "by": ""}]:
        by = f" · {t['by']} {e['by']}" if e["by"] else ""
        story.append(para(f"{e['time']} · {e['what']}{by}".strip(" ·")))

    story.append(para(t["method"], H2))
    story.append(para(v["method"]))
    story.append(para(t["advisory"]))
    doc.build(story)
    return out.getvalue()
