"""How a text answer is rebuilt from its chunks.

An answer is append-only on the wire, yet a candidate may correct what they typed. A text
chunk therefore may hold U+0008 BACKSPACE characters: each one deletes the character (code
point) before it in the answer so far. The web app sends an edit in the middle as that many
backspaces followed by the retyped rest, so the stored chunks replay the whole history of
the answer and the final text is one fold over them.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def edit_chunk(before: str, after: str) -> str:
    """The chunk turning ``before`` into ``after``: backspaces to the common prefix, the rest."""
    common = 0
    for old, new in zip(before, after, strict=False):
        if old != new:
            break
        common += 1
    return BACKSPACE * (len(before) - common) + after[common:]


__all__ = ["BACKSPACE", "edit_chunk", "fold_text"]
