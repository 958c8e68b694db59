"""`interview-hub take`: a whole interview typed into the terminal client."""

from __future__ import annotations

import os
import subprocess
import sys

from client.terminal import split_link
from tests.conftest import PHONE, ROOT, Hub


def test_split_link() -> None:
    """An invitation link gives the hub's websocket URL and the token; a bare token is kept."""
    assert split_link("https://hub.example/i/abc.def") == (
        "wss://hub.example/ws/candidate",
        "abc.def",
    )
    assert split_link("http://127.0.0.1:9/i/abc.def/") == (
        "ws://127.0.0.1:9/ws/candidate",
        "abc.def",
    )
    assert split_link("abc.def")[1] == "abc.def"


async def test_take_answers_every_question_from_stdin(hub: Hub, make_interview, store) -> None:
    """Lines typed become the answer; an empty line finishes it; the interview completes."""
    iv_id, token = await make_interview(questions=2)
    typed = "first line\nsecond line\n\nonly line\n\n"
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "take", f"{hub.http}/i/{token}", "--identity", PHONE],
        cwd=ROOT,
        env=dict(os.environ),
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Interview completed" in out.stdout
    chunks = await store.chunks(iv_id)
    assert [(c["q"], c["data"]) for c in chunks] == [
        (0, "first line\n"),
        (0, "second line\n"),
        (1, "only line\n"),
    ]


async def test_take_exit_needs_the_typed_confirm(hub: Hub, make_interview, store) -> None:
    """`:exit` shows the progress; only typing EXIT confirms, and the answer so far is kept."""
    iv_id, token = await make_interview(questions=2)
    typed = "draft\n:exit\nno\nmore\n:exit\nEXIT\n"
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "take", f"{hub.http}/i/{token}", "--identity", PHONE],
        cwd=ROOT,
        env={**os.environ},
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Progress 0/2 (0%)" in out.stdout
    assert "Exited at 0%" in out.stdout
    assert [c["data"] for c in await store.chunks(iv_id)] == ["draft\n", "more\n"]
    snap, _ = await store.snapshot(iv_id)
    assert str(snap.state) == "exited"
