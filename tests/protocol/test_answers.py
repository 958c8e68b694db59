"""The text-answer fold: chunks with backspaces replay the candidate's edits."""

from __future__ import annotations

import random

from protocol.answers import BACKSPACE, edit_chunk, fold_text


def test_plain_chunks_concatenate() -> None:
    """Chunks without backspaces are the answer, in order."""
    assert fold_text(["你好", ", ", "world"]) == "你好, world"


def test_backspace_deletes_the_code_point_before_it_across_chunks() -> None:
    """A backspace deletes one code point, also one typed in an earlier chunk."""
    assert fold_text(["abc😀", "\b\bX"]) == "abX"


def test_backspace_on_empty_answer_is_ignored() -> None:
    """Backspaces beyond the start delete nothing and do not fail."""
    assert fold_text(["\b\b\bhi", "\b\b\b\b"]) == ""
    assert fold_text(["\b", "ok"]) == "ok"


def test_binary_chunks_are_skipped() -> None:
    """Bin chunks (media) do not enter the text."""
    assert fold_text(["a", b"\x00\x01", "b"]) == "ab"


def test_edit_chunk_is_backspaces_then_the_rest() -> None:
    """An edit in the middle becomes backspaces to the common prefix plus the retyped tail."""
    assert edit_chunk("hello world", "hello, world") == "\b" * 6 + ", world"
    assert edit_chunk("", "abc") == "abc"
    assert edit_chunk("abc", "abc") == ""
    assert edit_chunk("abc", "ab") == BACKSPACE


def test_random_edit_histories_fold_to_the_final_text() -> None:
    """Any history of edits, sent as edit chunks, folds to the last text the candidate saw."""
    rng = random.Random(4)
    alphabet = "ab中文😀 \n"
    for _ in range(500):
        shown, chunks = "", []
        for _ in range(rng.randint(1, 12)):
            cut = rng.randint(0, len(shown))
            insert = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
            after = shown[:cut] + insert + shown[cut + rng.randint(0, 3) :]
            chunks.append(edit_chunk(shown, after))
            shown = after
        assert fold_text(chunks) == shown
