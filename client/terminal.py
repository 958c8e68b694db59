"""Take an interview from a terminal: ``interview-hub take LINK --identity ...``.

Each line typed is streamed as a chunk; an empty line finishes the answer; ``:exit``
asks to exit and shows what that means before asking for a confirm.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

from client.candidate import CandidateClient, ClientClosed, JoinRefused
from protocol.messages import Completed, QuestionStarted
from protocol.reasons import message


def split_link(link: str) -> tuple[str, str]:
    """The websocket URL and the token of an invitation link (or of a bare token)."""
    parts = urlsplit(link)
    if not parts.scheme:
        return "ws://127.0.0.1:8000/ws/candidate", link
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws/candidate", parts.path.rstrip("/").rsplit("/", 1)[-1]


async def _line(prompt: str) -> str:
    return await asyncio.to_thread(input, prompt)


async def take_interview(link: str, identity: str) -> int:
    url, token = split_link(link)
    client = CandidateClient(url, token, identity, device="terminal")
    try:
        joined = await client.join()
    except JoinRefused as exc:
        print(f"{message(exc.reason, 'en')}\n{message(exc.reason, 'zh-CN')}")
        return 1
    print(f"{joined.candidate} · {joined.position} ({joined.mode})")
    try:
        while client.question is not None:
            q = client.question
            p = joined.progress
            print(f"\nQuestion {q.q + 1}/{q.total}: {q.text}")
            if q.time_limit_s:
                print(f"(time limit {q.time_limit_s} s)")
            print("Type your answer; an empty line finishes it, :exit leaves.")
            while True:
                line = await _line("> ")
                if line == ":exit":
                    preview = await client.request_exit()
                    p = preview.progress
                    print(
                        f"Progress {p.answered}/{p.total} ({p.percent}%). What you typed is saved."
                    )
                    if preview.reentry_allowed:
                        print("You may come back once before the deadline given after the exit.")
                    else:
                        print("You cannot come back to this interview after exiting.")
                    if (await _line("Type EXIT to confirm: ")).strip() == "EXIT":
                        exited = await client.confirm_exit()
                        print(f"Exited at {exited.progress.percent}%.")
                        return 0
                    await client.cancel_exit()
                    continue
                if not line:
                    nxt = await client.finish()
                    if isinstance(nxt, Completed):
                        print("Interview completed. Thank you! 面试已完成，谢谢！")
                        return 0
                    assert isinstance(nxt, QuestionStarted)
                    break
                text = line + "\n"
                for start in range(0, len(text), 4000):  # chunks stay under the size limit
                    await client.send_text(text[start : start + 4000])
    except ClientClosed as exc:
        print(f"The server closed the interview (code {exc.code}): {exc.last}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    return 0
