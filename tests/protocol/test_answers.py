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


def test_answers_are_assembled_per_question_in_one_place() -> None:
    """assemble() folds each question's text chunks in arrival order, skips binary data, and counts chunks, the last seq, the first time and the chunks that did not open."""
    from protocol.answers import Answer, assemble

    stored = [
        {"q": 0, "seq": 1, "t": 100, "data": "Helo"},
        {"q": 1, "seq": 1, "t": 150, "data": b"\x00pcm"},
        {"q": 0, "seq": 2, "t": 200, "data": "\blo world"},
        {"q": 1, "seq": 2, "t": 250, "data": b"", "unreadable": True},
        {"q": 0, "seq": 3, "t": 300, "data": "!"},
    ]
    answers = assemble(stored)
    assert answers[0] == Answer(text="Hello world!", chunks=3, last_seq=3, first_ms=100)
    assert answers[1] == Answer(text="", chunks=2, last_seq=2, first_ms=150, unreadable=1)
    assert 2 not in answers and answers.get(2, Answer()) == Answer()
