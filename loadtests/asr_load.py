"""Does transcription slow the chunk path? The bench's candidates stream while answers are
transcribed, and the chunk -> ack latency is compared with a run without transcription.

    uv run python -m loadtests.asr_load --asr in-hub --candidates 200 --rate 10 --duration 30
    uv run python -m loadtests.asr_load --asr worker ...   # `interview-hub transcribe` apart
    uv run python -m loadtests.asr_load --asr none ...     # the same run, nothing to transcribe

Like ``loadtests.bench`` (whose options it takes; the hub on CPU 0, Redis and the generators
on CPU 1) but, before the candidates join, ``--answers`` interviews each get
``--answer-s`` seconds of espeak-ng speech stored as a spoken answer and a transcription job
(due at once). ``--asr in-hub``: the hub's own worker transcribes them (HUB_ASR_IN_HUB=1:
the model in a child process of the hub, so on the hub's CPU); ``--asr worker``: the hub
runs none and one ``interview-hub transcribe`` process on the generators' CPU does;
``--asr none``: HUB_ASR=off and no answers. Prints the bench's JSON line with ``asr``,
``transcribed`` (answers done when the streaming ended) and ``transcribed_audio_s`` added.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadtests import bench
from loadtests.interviews import create_interviews, now_ms
from loadtests.processes import ROOT
from server.settings import Settings
from server.store import Store
from server.transcribe import Transcription
from tests.speech import espeak, seconds_of, silence

SPOKEN = (
    "I led a team of engineers to rebuild the billing system. The old one failed every "
    "month. First we measured where the errors came from, then we fixed the worst ones."
)


async def plant_answers(env: bench.Environment, count: int, seconds: float) -> list[str]:
    """``count`` interviews with a spoken answer of ``seconds`` each, queued now."""
    made = await create_interviews(
        env.redis_url, env.secret, count, org="asrload", master_keys=env.master_keys
    )
    store = Store.from_url(env.redis_url, secret=env.secret, master_keys=env.master_keys)
    settings = Settings(asr_settle_ms=0)
    line = espeak(SPOKEN) + silence(800)
    pcm = line * max(1, round(seconds * 32_000 / len(line)))
    ids = []
    try:
        for m in made:
            iv_id = m["interview_id"]
            cipher = await store.cipher(iv_id)
            await store.set_contact(iv_id, {"lang": "en"})
            for piece in seconds_of(pcm, now_ms()):
                entry = {"attempt": 1, "q": 0, "kind": "pcm16k", "session": "load", "level": 50}
                entry |= {"n": piece["n"], "t": piece["t"]}
                await store.add_media(iv_id, cipher, entry, piece["data"])
            await Transcription(store, settings).queue(iv_id, 1, 0)
            ids.append(iv_id)
    finally:
        await store.close()
    return ids


async def transcribed(env: bench.Environment, ids: list[str]) -> dict[str, Any]:
    """How the planted answers stand: transcribed (and their audio seconds), by state."""
    store = Store.from_url(env.redis_url, secret=env.secret, master_keys=env.master_keys)
    try:
        done, audio_ms, states = 0, 0, {}
        for iv_id in ids:
            records = await store.transcripts(iv_id)
            if 0 in records:
                done += 1
                audio_ms += int(records[0].get("audio_ms", 0))
            state = (await store.transcription_states(iv_id)).get(0, {})
            states[state.get("status", "?")] = states.get(state.get("status", "?"), 0) + 1
        return {
            "transcribed": done,
            "transcribed_audio_s": round(audio_ms / 1000, 1),
            "transcription_states": states,
        }
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asr", choices=("in-hub", "worker", "none"), default="in-hub")
    parser.add_argument("--answers", type=int, default=4)
    parser.add_argument("--answer-s", type=float, default=60.0)
    ours, rest = parser.parse_known_args(argv)
    args = bench.parse_args(rest)
    cache = Path(tempfile.mkdtemp(prefix="ihub-asr-models-"))
    os.environ["HUB_ASR"] = "off" if ours.asr == "none" else "whisper-base"
    os.environ["HUB_ASR_IN_HUB"] = "1" if ours.asr == "in-hub" else "0"
    os.environ["HUB_ASR_CACHE"] = str(cache)
    env = bench.Environment(args)
    worker: subprocess.Popen[bytes] | None = None
    try:
        env.start()
        ids: list[str] = []
        if ours.asr != "none":
            ids = asyncio.run(plant_answers(env, ours.answers, ours.answer_s))
        if ours.asr == "worker":
            command = [sys.executable, "-m", "server.cli", "transcribe"]
            if args.load_cpu and shutil.which("taskset"):
                command = ["taskset", "-c", str(args.load_cpu), *command]
            worker_env = {**os.environ, "REDIS_URL": env.redis_url, "HUB_SECRET": env.secret}
            worker_env["HUB_MASTER_KEYS"] = env.master_keys
            worker = subprocess.Popen(command, env=worker_env, cwd=ROOT)
        print(f"asr {ours.asr}: {len(ids)} answers of {ours.answer_s:.0f} s queued", flush=True)
        org, token = "loadtest", ""
        if args.monitors_per or args.end_n:
            org, _, token = asyncio.run(bench._hr_login(env))
        made = asyncio.run(bench._create(env, args.candidates, org))
        run = bench.run_generators(args, env, made, token)
        asr_done = asyncio.run(transcribed(env, ids))
        per_iv = {iv: v for r in run["results"] for iv, v in r["per_interview"].items()}
        check = asyncio.run(bench._check(env, per_iv))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        problems = env.stop()
        shutil.rmtree(cache, ignore_errors=True)
    summary = bench.summarise(args, run, check, problems)
    summary |= {"asr": ours.asr, **asr_done}
    bench.print_human(summary)
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
