"""How a text answer is rebuilt from its chunks.

An answer is append-only on the wire, yet a candidate may correct what they typed. A text
chunk therefore may hold U+0008 BACKSPACE characters: each one deletes the character (code
point) before it in the answer so far. The web app sends an edit in the middle as that many
backspaces followed by the retyped rest, so the stored chunks replay the whole history of
the answer and the final text is one fold over them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BACKSPACE = "\b"


def fold_text(chunks: Iterable[str | bytes]) -> str:
    """The answer's text after applying every text chunk in order; bin chunks are skipped."""
    text: list[str] = []
    for chunk in chunks:
        if not isinstance(chunk, str):
            continue
        if BACKSPACE not in chunk:
            text.extend(chunk)
            continue
        for char in chunk:
            if char == BACKSPACE:
                if text:
                    text.pop()
            else:
                text.append(char)
    return "".join(text)


@dataclass(frozen=True, slots=True)
class Answer:
    """One question's answer as its stored chunks make it."""

    text: str = ""  # the fold of its text chunks
    chunks: int = 0  # how many chunks it has
    last_seq: int = 0  # the highest stored seq (the next chunk is last_seq + 1)
    first_ms: int = 0  # when its first chunk was stored
    unreadable: int = 0  # chunks whose sealed record did not open (kept, empty)


def assemble(chunks: Iterable[Mapping[str, Any]]) -> dict[int, Answer]:
    """Every question's answer from stored chunks in arrival order (``q``, ``seq``, ``t``,
    ``data``, ``unreadable`` as the store reads them): the one place answers are rebuilt.
    A question with no chunk is absent; ``.get(q, Answer())`` reads it as empty."""
    by_q: dict[int, list[Mapping[str, Any]]] = {}
    for chunk in chunks:
        by_q.setdefault(int(chunk["q"]), []).append(chunk)
    return {
        q: Answer(
            text=fold_text(c["data"] for c in parts),
            chunks=len(parts),
            last_seq=max(int(c["seq"]) for c in parts),
            first_ms=int(parts[0]["t"]),
            unreadable=sum(1 for c in parts if c.get("unreadable")),
        )
        for q, parts in by_q.items()
    }


def edit_chunk(before: str, after: str) -> str:
    """The chunk turning ``before`` into ``after``: backspaces to the common prefix, the rest."""
    common = 0
    for old, new in zip(before, after, strict=False):
        if old != new:
            break
        common += 1
    return BACKSPACE * (len(before) - common) + after[common:]


__all__ = ["BACKSPACE", "edit_chunk", "fold_text"]
